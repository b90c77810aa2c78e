"""The subscription's life after registration (issue 13): renewal reminders and expiry (the
background rounds, :mod:`.rounds`), **Gia hạn** (:mod:`.renew`, and :mod:`.apply` for what a
paid renewal order does), **Hủy gia hạn**, **Tiếp tục gia hạn** and the cancellation by staff
(:mod:`.cancel`). The rules (periods, due reminders, transitions) are ``domain.lifecycle``."""

from domain.usecases.renewal.apply import RenewalApplied, apply_paid_renewal
from domain.usecases.renewal.cancel import CancelNow, CancelNowRequest, SetRenewal
from domain.usecases.renewal.common import RENEW_ACTION, ChangeStatus, LifecycleChange
from domain.usecases.renewal.renew import (
    PlacedRenewal,
    PlaceRenewal,
    RenewalOffer,
    RenewalOffers,
    RenewalOutcome,
    RenewalOutcomeKind,
    RenewalRequest,
    RenewSubscription,
)
from domain.usecases.renewal.rounds import (
    ExpireSubscriptions,
    ExpiryRoundReport,
    ReminderReport,
    SendRenewalReminders,
)
from domain.usecases.renewal.services import RenewalServices

__all__ = [
    "RENEW_ACTION",
    "CancelNow",
    "CancelNowRequest",
    "ChangeStatus",
    "ExpireSubscriptions",
    "ExpiryRoundReport",
    "LifecycleChange",
    "PlaceRenewal",
    "PlacedRenewal",
    "ReminderReport",
    "RenewSubscription",
    "RenewalApplied",
    "RenewalOffer",
    "RenewalOffers",
    "RenewalOutcome",
    "RenewalOutcomeKind",
    "RenewalRequest",
    "RenewalServices",
    "SendRenewalReminders",
    "SetRenewal",
    "apply_paid_renewal",
]

"""The payment flows' backend (:class:`conversations.payment.PaymentBackend`) on the payment
use cases: **Thanh toán lại** is RetryPayment then StartPayment (the same StartPayment the
registration uses, from :class:`bot.payments_http.PaymentServices`); ``/cash`` is ConfirmCash,
which writes the business owners' **Đăng ký thành công** to the outbox with the payment."""

from __future__ import annotations

from dataclasses import replace

from bot.payments_http import PaymentServices
from domain.usecases.payments import (
    ConfirmCashRequest,
    PaymentConfirmed,
    RetryPaymentRequest,
    RetryResult,
    RetryStatus,
)

__all__ = ["ServicesPaymentBackend"]


class ServicesPaymentBackend:
    def __init__(self, services: PaymentServices) -> None:
        self._services = services

    async def pay_again(self, user_id: int, order_code: str) -> RetryResult:
        """A new attempt (new merchant order id, same amount) gets its link from the gateway;
        an attempt still open keeps its link. Without a gateway the link stays empty."""
        result = await self._services.retry(
            RetryPaymentRequest(actor_id=user_id, order_code=order_code)
        )
        start = self._services.start
        if result.status is RetryStatus.CREATED and start is not None:
            started = await start(result.order_id)
            result = replace(
                result,
                merchant_order_id=started.merchant_order_id or result.merchant_order_id,
                redirect_url=started.redirect_url,
            )
        return result

    async def confirm_cash(self, user_id: int, subscription_code: str) -> PaymentConfirmed:
        return await self._services.confirm_cash(
            ConfirmCashRequest(subscription_code=subscription_code, actor_id=user_id)
        )

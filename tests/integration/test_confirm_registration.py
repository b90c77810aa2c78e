"""ConfirmRegistration (**Xác nhận**) on a real database: the order placed with the business's
stored details under the user's edits, and the payment link asked for once. The world (catalog,
business, scripted gateway) is the payment use cases' one."""

from __future__ import annotations

from domain.pricing import NO_USAGE, Selection, quote
from domain.registration import ConfirmRequest, ContactInfo, DetailEdits, OrderOutcomeKind
from domain.usecases.registration import ConfirmRegistration, PlaceOrder, StartPayment
from tests.integration.test_payment_usecases import (
    CATALOG,
    OWNER,
    OWNER_CHAT,
    TAX_CODE,
    VN,
    ScriptedGateway,
    World,
)
from tests.integration.test_payment_usecases import clock as clock
from tests.integration.test_payment_usecases import world as world


async def test_confirm_registration_places_the_order_and_gets_the_link_once(world: World) -> None:
    gateway: ScriptedGateway = world.gateway
    confirm = ConfirmRegistration(
        PlaceOrder(world.uow, lambda: CATALOG, world.clock),
        StartPayment(world.uow, gateway, world.clock),
    )
    selection = Selection(service_code="CLOUD", plan_code="CLOUD-STD", cycle_code="M12")
    today = world.clock.now().astimezone(VN).date()
    request = ConfirmRequest(
        actor_id=OWNER,
        enterprise_id=world.enterprise_id,
        selection=selection,
        # the stored business has no address nor e-mail: the user typed them
        edits=DetailEdits(
            invoice={"addr": "1 Lê Lợi, Hà Nội", "email": "kt@anphat.vn"},
            customer={"addr": "2 Lê Lợi, Hà Nội", "phone": "0912345678", "email": "a@anphat.vn"},
        ),
        contact=ContactInfo("Nguyễn Văn An", "0912345678", "an@anphat.vn"),
        expected_total=quote(CATALOG, selection, today=today, usage=NO_USAGE).total,
        idempotency_key="confirm-1",
        locale="vi",
        chat_id=OWNER_CHAT,
    )

    first = await confirm.confirm(request)
    again = await confirm.confirm(request)  # a double tap

    assert first.kind is OrderOutcomeKind.CREATED
    assert first.payment_url == f"https://pay.example/{first.order_code}-1"
    assert (again.kind, again.payment_url) == (OrderOutcomeKind.EXISTING, first.payment_url)
    assert len(gateway.created) == 1
    async with world.db.uow as uow:
        order = await uow.orders.by_idempotency_key("confirm-1")
    assert order is not None
    assert order.invoice_info == {
        "company_name": "Công ty An Phát",  # stored
        "tax_code": TAX_CODE,
        "address": "1 Lê Lợi, Hà Nội",  # typed
        "email": "kt@anphat.vn",
    }
    assert order.customer_info["address"] == "2 Lê Lợi, Hà Nội"
    assert order.customer_info["name"] == "Công ty An Phát"

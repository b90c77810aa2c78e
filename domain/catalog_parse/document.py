"""The whole catalog document: :func:`parse_catalog`."""

from __future__ import annotations

from domain.catalog import Catalog, Promotion, Service
from domain.catalog_parse.promotions import _promotion
from domain.catalog_parse.reading import (
    _TOP_KEYS,
    _mapping,
    _Node,
    _Problems,
    _Unique,
    _written_codes,
)
from domain.catalog_parse.services import _service
from domain.errors import CatalogInvalid


def parse_catalog(data: object) -> Catalog:
    """Validate a catalog document and build the :class:`Catalog` it describes.

    Raises :class:`CatalogInvalid` listing every problem, in document order where possible.
    """
    p = _Problems()
    root = _mapping(data, "", p)
    if root is None:
        raise CatalogInvalid(p.items)
    top = _Node(root, "", _TOP_KEYS, p)
    raw_services = top.sequence("services", required=True, non_empty=True)
    raw_promotions = top.sequence("promotions", required=False, non_empty=False)

    service_codes = _Unique("service", p)
    addon_codes = _Unique("add-on", p)
    services: list[Service] = []
    for i, raw in enumerate(raw_services):
        service = _service(raw, f"services[{i}]", service_codes, addon_codes, p)
        if service is not None:
            services.append(service)

    all_plan_codes = _written_codes(raw_services, "plans")
    all_addon_codes = _written_codes(raw_services, "addons")
    promotion_codes = _Unique("promotion", p)
    coupon_codes = _Unique("coupon", p)
    promotions: list[Promotion] = []
    for i, raw in enumerate(raw_promotions):
        promotion = _promotion(
            raw,
            f"promotions[{i}]",
            (promotion_codes, coupon_codes),
            all_plan_codes,
            all_addon_codes,
            p,
        )
        if promotion is not None:
            promotions.append(promotion)

    if p.items:
        raise CatalogInvalid(p.items)
    return Catalog(services=tuple(services), promotions=tuple(promotions))

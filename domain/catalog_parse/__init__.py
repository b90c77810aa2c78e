"""Turning a catalog document (the plain structure a YAML 1.2 or JSON loader gives) into
:mod:`domain.catalog` objects.

The parser never stops at the first mistake: it walks the whole document and collects every
problem as ``(path, message)``, e.g. ``("services[0].plans[1].cycles[0].price", "must be ≥ 0")``,
so an operator can fix a file in one go. Any problem raises :class:`CatalogInvalid` and no
catalog is returned, so an invalid file can never be half-loaded.

Cross-references are checked against every code *written* in the file (even one that has a
problem of its own), so one bad entry does not cascade into spurious "unknown code" problems.

Rules beyond the file format itself:

* codes match ``[A-Z0-9_-]{1,64}``;
* service codes are unique; plan codes are unique within their service (the format says so);
  add-on codes and promotion codes are unique across the whole file (a promotion of scope
  ``addon`` names add-ons by code alone, so an add-on code must not be ambiguous);
  cycle codes are unique within their plan;
* ``flat``/``unit`` cycles carry ``price``; ``tier``/``volume``/``stairstep`` cycles carry
  ``tiers`` instead (ascending ``up_to``, the last one ``null``);
* a plan's ``trial_days`` (optional, 0–365, default 0: no trial) and ``downgrade``
  (optional, ``immediately`` (default) or ``at_period_end``; see ``docs/proration.md``);
* integers are real integers: ``true`` is not ``1`` and ``"1800000"`` is not a price;
* a promotion's optional ``coupon_code`` (typed by the customer instead of offered in the list)
  is non-empty text without blanks, at most 32 characters, unique across the file compared
  case-insensitively (``TET2027`` and ``tet2027`` are the same code).
"""

from __future__ import annotations

from domain.catalog_parse.document import parse_catalog
from domain.catalog_parse.reading import CODE_MAX_LENGTH, CODE_PATTERN, COUPON_MAX_LENGTH

__all__ = [
    "CODE_MAX_LENGTH",
    "CODE_PATTERN",
    "COUPON_MAX_LENGTH",
    "parse_catalog",
]

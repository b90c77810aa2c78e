"""VNPT Pay ``SECURE_CODE``: SHA-256 over the field values joined with ``|``, secret last.

The recipe is exact (see ``vnptpay-protocol.md``): values only, in the listed order, no sorting,
no trimming, no URL-encoding; an empty value keeps its slot (two bars in a row); UTF-8 bytes;
lowercase hex. Received codes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def secure_code(values: Sequence[str], secret: str) -> str:
    return hashlib.sha256("|".join([*values, secret]).encode("utf-8")).hexdigest()


def verify(values: Sequence[str], secret: str, received: str) -> bool:
    """True when ``received`` is the checksum of ``values``; case-sensitive (lowercase hex)."""
    expected = secure_code(values, secret)
    return hmac.compare_digest(expected.encode("ascii"), received.encode("utf-8"))

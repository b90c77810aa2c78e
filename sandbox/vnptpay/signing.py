"""The gateway's own SECURE_CODE and return-page code, written from the protocol page alone.

Deliberately separate from the merchant client's code: the simulator is the outside world, and
a checksum shared with the client would hide a bug both sides made together.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

SEPARATOR = b"|"


def sign(values: Iterable[str], secret: str) -> str:
    """SHA-256 of each value followed by ``|``, then the secret; lowercase hex."""
    digest = hashlib.sha256()
    for value in values:
        digest.update(value.encode("utf-8"))
        digest.update(SEPARATOR)
    digest.update(secret.encode("utf-8"))
    return digest.hexdigest()


def matches(values: Iterable[str], secret: str, received: object) -> bool:
    if not isinstance(received, str):
        return False
    return secrets.compare_digest(sign(values, secret).encode(), received.encode("utf-8"))

"""Normalising and validating what people type: tax codes, phones, e-mails, names, addresses.

Every function first normalises (strip, Unicode NFC, collapse inner whitespace to one space)
and then validates. A rejection raises :class:`InvalidInput` with the params ``field`` (what was
asked), ``reason`` (a stable key such as ``"tax_code.checksum"``, used for the message text) and
``example`` (a valid value to show); some reasons add ``max_len``.

Length limits come from the e-invoice buyer fields (Decree 123/2020 as amended): name 400,
address 400, invoice e-mail 50, contact name 100, phone 20, tax code 14.

Tax code (MST) check digit, as in domain-rules.md: ``S = Σ dᵢ·wᵢ`` over the first nine digits
with weights 31, 29, 23, 19, 17, 13, 7, 5, 3 and ``r = S mod 11``; the tenth digit is
``10 − r`` for ``r`` in 1…9, ``0`` for ``r = 10``; ``r = 0`` would need a tenth digit of 10, so
such a prefix is never issued and is rejected. Checked against the published examples
0100233488 (r=2), 0103326250 (r=10), 0100112437 (r=3), 3500748818, 0314409058-002 and
0312687878-001 (r=2). Because every weight and every digit change is non-zero mod 11 and
``r ↦ check digit`` is one-to-one, changing any single digit of a valid code makes it invalid.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from domain.errors import InvalidInput

__all__ = [
    "ADDRESS_MAX",
    "COMPANY_NAME_MAX",
    "CONTACT_NAME_MAX",
    "EMAIL_MAX",
    "PHONE_MAX",
    "TAX_CODE_MAX",
    "TAX_CODE_WEIGHTS",
    "display_phone",
    "is_valid_tax_code",
    "normalize_tax_code",
    "normalize_text",
    "tax_code_check_digit",
    "validate_address",
    "validate_company_name",
    "validate_contact_name",
    "validate_email",
    "validate_name",
    "validate_phone",
    "validate_tax_code",
]

COMPANY_NAME_MAX = 400
ADDRESS_MAX = 400
CONTACT_NAME_MAX = 100
EMAIL_MAX = 50
PHONE_MAX = 20
TAX_CODE_MAX = 14

TAX_CODE_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)

EXAMPLE_TAX_CODE = "0100233488"
EXAMPLE_PHONE = "091 234 5678"
EXAMPLE_EMAIL = "ketoan@congty.vn"
EXAMPLE_COMPANY_NAME = "Công ty TNHH Thương mại ABC"
EXAMPLE_CONTACT_NAME = "Nguyễn Văn An"
EXAMPLE_ADDRESS = "Số 57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội"

_WHITESPACE = re.compile(r"\s+")
_TAX_SEPARATORS = re.compile(r"[\s.\-–—]+")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]+")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
_ALLOWED_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})  # ZWNJ/ZWJ appear inside real names
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _invalid(field: str, reason: str, example: str, **extra: object) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}", field=field, reason=reason, example=example, **extra)


def normalize_text(s: str) -> str:
    """Strip, compose to Unicode NFC and collapse every run of whitespace to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", s)).strip()


def normalize_tax_code(s: str) -> str:
    """Remove spaces, dots and dashes (no validation): ``"0314 409.058-002"`` → 13 digits."""
    return _TAX_SEPARATORS.sub("", unicodedata.normalize("NFKC", s))


def tax_code_check_digit(first_nine: str) -> int | None:
    """The tenth digit for nine leading digits, or ``None`` if no code can have that prefix."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError("nine ASCII digits expected")
    remainder = sum(int(d) * w for d, w in zip(first_nine, TAX_CODE_WEIGHTS, strict=True)) % 11
    if remainder == 0:
        return None
    return 0 if remainder == 10 else 10 - remainder


def validate_tax_code(s: str, field: str = "tax_code") -> str:
    """A valid MST, returned as ``NNNNNNNNNN`` or, for a branch, ``NNNNNNNNNN-NNN``.

    Reasons: ``tax_code.required``, ``tax_code.format`` (not 10 or 13 digits),
    ``tax_code.branch`` (suffix 000), ``tax_code.zero`` (digits 3–9 all zero),
    ``tax_code.checksum``.
    """
    digits = normalize_tax_code(s)
    if not digits:
        raise _invalid(field, "tax_code.required", EXAMPLE_TAX_CODE)
    if not (digits.isascii() and digits.isdigit() and len(digits) in (10, 13)):
        raise _invalid(field, "tax_code.format", EXAMPLE_TAX_CODE)
    main, branch = digits[:10], digits[10:]
    if branch == "000":
        raise _invalid(field, "tax_code.branch", f"{EXAMPLE_TAX_CODE}-001")
    if main[2:9] == "0000000":
        raise _invalid(field, "tax_code.zero", EXAMPLE_TAX_CODE)
    if tax_code_check_digit(main[:9]) != int(main[9]):
        raise _invalid(field, "tax_code.checksum", EXAMPLE_TAX_CODE)
    return f"{main}-{branch}" if branch else main


def is_valid_tax_code(s: str) -> bool:
    try:
        validate_tax_code(s)
    except InvalidInput:
        return False
    return True


def validate_phone(s: str, field: str = "phone") -> str:
    """A Vietnamese mobile number, returned in E.164 (``+849…``).

    Accepts ``0…``, ``+84…`` and ``84…`` with spaces, dots, dashes or brackets. The
    ``phonenumbers`` metadata (region VN, type MOBILE) decides validity, so the 2018 prefixes
    (03x, 05x, 07x, 08x, 09x) are accepted and retired ones are not.
    Reasons: ``phone.required``, ``phone.format``, ``phone.invalid``, ``phone.not_mobile``.
    """
    compact = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", s))
    if not compact:
        raise _invalid(field, "phone.required", EXAMPLE_PHONE)
    body = compact[1:] if compact.startswith("+") else compact
    if not (body.isascii() and body.isdigit()) or len(compact) > PHONE_MAX:
        raise _invalid(field, "phone.format", EXAMPLE_PHONE)
    if compact.startswith("+"):
        candidate = compact
    elif compact.startswith("84") and len(compact) == 11:
        candidate = "+" + compact
    elif compact.startswith("0"):
        candidate = compact
    else:
        raise _invalid(field, "phone.format", EXAMPLE_PHONE)
    try:
        number = phonenumbers.parse(candidate, "VN")
    except NumberParseException as error:
        raise _invalid(field, "phone.format", EXAMPLE_PHONE) from error
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        raise _invalid(field, "phone.invalid", EXAMPLE_PHONE)
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise _invalid(field, "phone.not_mobile", EXAMPLE_PHONE)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """``+84912345678`` → ``091 234 5678``; other numbers in their national format."""
    if e164.startswith("+84"):
        national = "0" + e164[3:]
        if len(national) == 10 and national.isdigit():
            return f"{national[:3]} {national[3:6]} {national[6:]}"
    try:
        number = phonenumbers.parse(e164, "VN")
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)


def validate_email(s: str, field: str = "email", max_len: int = EMAIL_MAX) -> str:
    """A pragmatic e-mail check (no quoted local parts, no IP-literal domains).

    The domain is lower-cased; the local part is kept as typed. ``max_len`` defaults to the
    e-invoice limit (50). Reasons: ``email.required``, ``email.too_long``, ``email.format``.
    """
    value = normalize_text(s)
    if not value:
        raise _invalid(field, "email.required", EXAMPLE_EMAIL)
    if len(value) > max_len:
        raise _invalid(field, "email.too_long", EXAMPLE_EMAIL, max_len=max_len)
    local, at, domain = value.rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    if (
        not at
        or not local
        or len(local) > 64
        or not _EMAIL_LOCAL.fullmatch(local)
        or len(labels) < 2
        or len(domain) > 253
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or not _TLD.fullmatch(labels[-1])
    ):
        raise _invalid(field, "email.format", EXAMPLE_EMAIL)
    return f"{local}@{domain}"


def _has_control(value: str) -> bool:
    return any(
        unicodedata.category(ch).startswith("C") and ch not in _ALLOWED_FORMAT_CHARS for ch in value
    )


def _validate_text(s: str, field: str, kind: str, max_len: int, example: str) -> str:
    value = normalize_text(s)
    if not value:
        raise _invalid(field, f"{kind}.required", example)
    if _has_control(value):
        raise _invalid(field, f"{kind}.control_chars", example)
    if len(value) > max_len:
        raise _invalid(field, f"{kind}.too_long", example, max_len=max_len)
    return value


def validate_name(s: str, field: str, max_len: int, example: str = EXAMPLE_COMPANY_NAME) -> str:
    """A company or person name. Reasons: ``name.required``, ``name.control_chars``,
    ``name.too_long`` (with ``max_len``)."""
    return _validate_text(s, field, "name", max_len, example)


def validate_company_name(s: str, field: str = "company_name") -> str:
    return validate_name(s, field, COMPANY_NAME_MAX, EXAMPLE_COMPANY_NAME)


def validate_contact_name(s: str, field: str = "contact_name") -> str:
    return validate_name(s, field, CONTACT_NAME_MAX, EXAMPLE_CONTACT_NAME)


def validate_address(s: str, field: str = "address", max_len: int = ADDRESS_MAX) -> str:
    """Reasons: ``address.required``, ``address.control_chars``, ``address.too_long``."""
    return _validate_text(s, field, "address", max_len, EXAMPLE_ADDRESS)

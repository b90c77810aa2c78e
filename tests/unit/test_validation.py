"""Input normalisation and validation: tax codes (MST), phones, e-mails, names, addresses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.validation import (
    display_phone,
    is_valid_tax_code,
    normalize_tax_code,
    normalize_text,
    tax_code_check_digit,
    validate_address,
    validate_company_name,
    validate_contact_name,
    validate_email,
    validate_name,
    validate_phone,
    validate_tax_code,
)

WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def oracle_check_digit(first_nine: str) -> int | None:
    """Independent restatement of the rule: the check digit c satisfies S + c ≡ 10 (mod 11)
    (c = 10 − r, and r = 10 gives 0); when no digit 0–9 does, the prefix is never issued."""
    s = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True))
    matches = [c for c in range(10) if (s + c) % 11 == 10]
    return matches[0] if matches else None


def reason_of(excinfo: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(excinfo.value.params["reason"])


# ── tax code ──────────────────────────────────────────────────────────────────────────────────

PUBLISHED = [
    ("0100233488", "0100233488"),
    ("0103326250", "0103326250"),
    ("0100112437", "0100112437"),
    ("3500748818", "3500748818"),
    ("0314409058-002", "0314409058-002"),
    ("0312687878-001", "0312687878-001"),
]


@pytest.mark.parametrize(("raw", "expected"), PUBLISHED)
def test_published_tax_codes_validate(raw: str, expected: str) -> None:
    assert validate_tax_code(raw) == expected
    assert is_valid_tax_code(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 0100 233 488 ", "0100233488"),
        ("0100.233.488", "0100233488"),
        ("0314409058002", "0314409058-002"),
        ("0314 409 058 - 002", "0314409058-002"),
        ("0314409058–002", "0314409058-002"),
        ("０１００２３３４８８", "0100233488"),
    ],
)
def test_tax_code_separators_are_removed(raw: str, expected: str) -> None:
    assert validate_tax_code(raw) == expected


def test_normalize_tax_code_only_removes_separators() -> None:
    assert normalize_tax_code(" 0314.409.058-002 ") == "0314409058002"
    assert normalize_tax_code("01x") == "01x"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "tax_code.required"),
        (" - . ", "tax_code.required"),
        ("010023348", "tax_code.format"),
        ("01002334881", "tax_code.format"),
        ("0100233488-01", "tax_code.format"),
        ("01002334AB", "tax_code.format"),
        ("0314409058-000", "tax_code.branch"),
        ("0100000000", "tax_code.zero"),
        ("0100233489", "tax_code.checksum"),
        ("0314409059-002", "tax_code.checksum"),
    ],
)
def test_bad_tax_codes_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_tax_code(raw)
    assert reason_of(excinfo) == reason
    assert excinfo.value.params["field"] == "tax_code"
    assert is_valid_tax_code(str(excinfo.value.params["example"]).split("-")[0])


def test_check_digit_matches_the_published_examples() -> None:
    for raw, _ in PUBLISHED:
        assert tax_code_check_digit(raw[:9]) == int(raw[9])


def test_remainder_zero_prefix_has_no_valid_code() -> None:
    prefix = next(
        f"{n:09d}"
        for n in range(100_000_000, 200_000_000)
        if sum(int(d) * w for d, w in zip(f"{n:09d}", WEIGHTS, strict=True)) % 11 == 0
    )
    assert tax_code_check_digit(prefix) is None
    assert not any(is_valid_tax_code(prefix + str(c)) for c in range(10))


nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9).filter(
    lambda s: s[2:9] != "0000000" and oracle_check_digit(s) is not None
)


@settings(max_examples=300, deadline=None)
@given(nine_digits)
def test_generated_codes_validate_and_any_single_digit_change_breaks_them(prefix: str) -> None:
    check = oracle_check_digit(prefix)
    assert check is not None
    code = prefix + str(check)
    assert validate_tax_code(code) == code
    assert validate_tax_code(code + "-123") == code + "-123"
    for position in range(10):
        for digit in "0123456789":
            if digit == code[position]:
                continue
            mutated = code[:position] + digit + code[position + 1 :]
            assert not is_valid_tax_code(mutated), (code, mutated)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_validity_agrees_with_the_oracle(code: str) -> None:
    expected = code[2:9] != "0000000" and oracle_check_digit(code[:9]) == int(code[9])
    assert is_valid_tax_code(code) is expected


def test_branch_suffixes() -> None:
    assert validate_tax_code("0100233488-001") == "0100233488-001"
    assert validate_tax_code("0100233488-999") == "0100233488-999"
    with pytest.raises(InvalidInput) as excinfo:
        validate_tax_code("0100233489-001")
    assert reason_of(excinfo) == "tax_code.checksum"


# ── phone ─────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0912345678", "+84912345678"),
        ("  0912 345 678 ", "+84912345678"),
        ("091.234.5678", "+84912345678"),
        ("091-234-5678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("(+84) 91 234 5678", "+84912345678"),
        ("0321234567", "+84321234567"),
        ("0561234567", "+84561234567"),
        ("0701234567", "+84701234567"),
        ("0812345678", "+84812345678"),
        ("0868123456", "+84868123456"),
    ],
)
def test_mobile_numbers_become_e164(raw: str, e164: str) -> None:
    assert validate_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "phone.required"),
        ("   ", "phone.required"),
        ("abc", "phone.format"),
        ("09123x5678", "phone.format"),
        ("912345678", "phone.format"),
        ("0123456789012345678901", "phone.format"),
        ("0123456789", "phone.invalid"),
        ("01234567890", "phone.invalid"),
        ("091234567", "phone.invalid"),
        ("+12025550100", "phone.invalid"),
        ("02438251234", "phone.not_mobile"),
    ],
)
def test_bad_phones_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_phone(raw)
    assert reason_of(excinfo) == reason
    assert validate_phone(str(excinfo.value.params["example"])).startswith("+84")


def test_display_phone() -> None:
    assert display_phone("+84912345678") == "091 234 5678"
    assert display_phone(validate_phone("84 321 234 567")) == "032 123 4567"


# ── e-mail ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ketoan@congty.vn", "ketoan@congty.vn"),
        ("  KeToan@CongTy.VN ", "KeToan@congty.vn"),
        ("a.b+hoadon@sub.example.com.vn", "a.b+hoadon@sub.example.com.vn"),
        ("x_y-z@my-company.com", "x_y-z@my-company.com"),
    ],
)
def test_valid_emails(raw: str, expected: str) -> None:
    assert validate_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "email.required"),
        ("ketoan", "email.format"),
        ("ketoan@", "email.format"),
        ("@congty.vn", "email.format"),
        ("ketoan@congty", "email.format"),
        ("ke toan@congty.vn", "email.format"),
        ("ketoan@@congty.vn", "email.format"),
        (".ketoan@congty.vn", "email.format"),
        ("ke..toan@congty.vn", "email.format"),
        ("ketoan@-congty.vn", "email.format"),
        ("ketoan@congty..vn", "email.format"),
        ("ketoan@congty.v", "email.format"),
        ("kếtoán@congty.vn", "email.format"),
        ("a" * 41 + "@congty.vn", "email.too_long"),
    ],
)
def test_bad_emails_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_email(raw)
    assert reason_of(excinfo) == reason


def test_email_max_length_is_a_parameter() -> None:
    fifty = "a" * 40 + "@congty.vn"
    assert len(fifty) == 50
    assert validate_email(fifty) == fifty
    long_one = "a" * 60 + "@congty.vn"
    assert validate_email(long_one, max_len=254) == long_one
    with pytest.raises(InvalidInput) as excinfo:
        validate_email(long_one)
    assert excinfo.value.params["max_len"] == 50


# ── names and addresses ───────────────────────────────────────────────────────────────────────


def test_normalize_text_composes_and_collapses() -> None:
    decomposed = "Nguye\u0302\u0303n  Va\u0306n\tAn\n"
    assert normalize_text(decomposed) == "Nguyễn Văn An"
    assert normalize_text(decomposed) != decomposed.strip()


def test_names_are_normalised() -> None:
    assert validate_contact_name("  Nguye\u0302\u0303n   Văn An ") == "Nguyễn Văn An"
    assert validate_company_name("Công ty\u00a0TNHH  ABC") == "Công ty TNHH ABC"
    assert validate_name("x", "buyer_name", 1) == "x"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "name.required"),
        ("  \n\t ", "name.required"),
        ("ABC\x00", "name.control_chars"),
        ("A\u200bB", "name.control_chars"),
        ("A\x7fB", "name.control_chars"),
    ],
)
def test_bad_names_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_company_name(raw)
    assert reason_of(excinfo) == reason
    assert excinfo.value.params["field"] == "company_name"


def test_name_length_limits() -> None:
    assert validate_company_name("A" * 400) == "A" * 400
    with pytest.raises(InvalidInput) as excinfo:
        validate_company_name("A" * 401)
    assert reason_of(excinfo) == "name.too_long"
    assert excinfo.value.params["max_len"] == 400
    assert validate_contact_name("B" * 100) == "B" * 100
    with pytest.raises(InvalidInput) as excinfo:
        validate_contact_name("B" * 101)
    assert excinfo.value.params == {
        "field": "contact_name",
        "reason": "name.too_long",
        "example": "Nguyễn Văn An",
        "max_len": 100,
    }


def test_addresses() -> None:
    assert validate_address(" Số 1  Phố Huế,\nHà Nội ") == "Số 1 Phố Huế, Hà Nội"
    assert validate_address("C" * 400) == "C" * 400
    for raw, reason in [
        ("", "address.required"),
        ("C" * 401, "address.too_long"),
        ("Số 1\x07", "address.control_chars"),
    ]:
        with pytest.raises(InvalidInput) as excinfo:
            validate_address(raw)
        assert reason_of(excinfo) == reason
        assert excinfo.value.params["field"] == "address"

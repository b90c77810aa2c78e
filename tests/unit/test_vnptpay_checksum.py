"""Fixed vectors for the VNPT Pay SECURE_CODE.

Each expected digest was computed once, by hand, outside this code base, with:

    python3 -c 'import hashlib; print(hashlib.sha256("<joined>".encode("utf-8")).hexdigest())'

where <joined> is the string shown in the comment next to the vector (values joined with "|",
the secret last). The digests are literals so that a change in the recipe cannot go unnoticed.
"""

from __future__ import annotations

import pytest

from payments.checksum import secure_code, verify

SECRET = "s3cret"

VECTORS = [
    # INIT|1.0.6|MS01|ORD1|150000|s3cret  (the protocol page's example)
    (
        ["INIT", "1.0.6", "MS01", "ORD1", "150000"],
        "3facb233d6784e70cbaf0cebe3c41ad6a51ec5dc607b4169dcc9166f348c146f",
    ),
    # CONFIRM|00||ORD1|s3cret  (an empty value keeps its slot: two bars in a row)
    (
        ["CONFIRM", "00", "", "ORD1"],
        "2dd2339f55e772314f02afc5adb7f6bb00e5e5a849a79e539e0ec6d1bc00d266",
    ),
    # "Thanh toán gói Cơ bản|s3cret", NFC, hashed as UTF-8 bytes
    (
        ["Thanh to\u00e1n g\u00f3i C\u01a1 b\u1ea3n"],
        "fd81e39f782e2a06a1f9d4e60cf4e2f4c0154fc2431893ad25370c00dd23ff09",
    ),
    # the same words in NFD: no normalisation happens, so the digest differs
    (
        ["Thanh toa\u0301n go\u0301i Co\u031b ba\u0309n"],
        "85f0e38d85e7ff40c5fe4a95c3aea71524eb581d42f666c2f4e158d1dd3cdc80",
    ),
    # " ORD1 |s3cret": no trimming
    (
        [" ORD1 "],
        "19be30aa4ef123b2be8347874319e5855fc8a3bc6b915402152fcc109baa86d1",
    ),
    # "|s3cret": one empty value
    ([""], "bebce6ac2eeed85e747519ebcb65a7e3e37fa1bf73e8b8fdadcd9028883dd528"),
    # "s3cret": no values at all, the secret alone
    ([], "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"),
]


@pytest.mark.parametrize(("values", "expected"), VECTORS)
def test_secure_code_matches_the_fixed_vector(values: list[str], expected: str) -> None:
    assert secure_code(values, SECRET) == expected


@pytest.mark.parametrize(("values", "expected"), VECTORS)
def test_verify_accepts_the_vector(values: list[str], expected: str) -> None:
    assert verify(values, SECRET, expected) is True


def test_return_code_vector() -> None:
    # "ORD1|00|s3cret": the browser return's secureCode = sha256(data|code|secret)
    assert (
        secure_code(["ORD1", "00"], SECRET)
        == "01cfe68f016bab9726e587419c465593aa93613ff4d843d672b2ab6fd96b633b"
    )
    # "ORD1|00|other": the secret matters
    assert (
        secure_code(["ORD1", "00"], "other")
        == "c691dd4520d02c627b6fd903f0325f559caa06da793681f70175e215560ffe74"
    )


def test_empty_slot_is_not_dropped() -> None:
    assert secure_code(["CONFIRM", "00", "", "ORD1"], SECRET) != secure_code(
        ["CONFIRM", "00", "ORD1"], SECRET
    )


def test_field_order_matters() -> None:
    assert secure_code(["A", "B"], SECRET) != secure_code(["B", "A"], SECRET)


@pytest.mark.parametrize(
    "received",
    [
        "3facb233d6784e70cbaf0cebe3c41ad6a51ec5dc607b4169dcc9166f348c146e",  # last digit changed
        "3FACB233D6784E70CBAF0CEBE3C41AD6A51EC5DC607B4169DCC9166F348C146F",  # upper case
        "3facb233d6784e70cbaf0cebe3c41ad6a51ec5dc607b4169dcc9166f348c146",  # truncated
        "",
        "not hex at all: ắ",
    ],
)
def test_verify_rejects_anything_else(received: str) -> None:
    assert verify(["INIT", "1.0.6", "MS01", "ORD1", "150000"], SECRET, received) is False


def test_verify_rejects_another_secret() -> None:
    code = secure_code(["INIT", "1.0.6", "MS01", "ORD1", "150000"], SECRET)
    assert verify(["INIT", "1.0.6", "MS01", "ORD1", "150000"], "s3cret ", code) is False

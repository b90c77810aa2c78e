"""The locale files: complete in both languages, consistent placeholders, valid Telegram HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, I18n, LocaleError, load_locales, normalize_language, placeholders
from sandbox.botapi.formatting import EntityParseError, parse_html

MESSAGES = load_locales()
#: dummy values that are themselves valid in any context a placeholder may stand in
SAMPLE = "https://example.com/1"


def test_both_languages_have_the_same_keys() -> None:
    vi, en = set(MESSAGES["vi"]), set(MESSAGES["en"])
    assert sorted(vi - en) == [], "keys missing in English"
    assert sorted(en - vi) == [], "keys missing in Vietnamese"
    assert len(vi) > 20


def test_same_placeholders_in_every_language() -> None:
    differing = {
        key: {lang: sorted(placeholders(MESSAGES[lang].get(key, ""))) for lang in LANGUAGES}
        for key in sorted(MESSAGES["vi"])
        if placeholders(MESSAGES["vi"][key]) != placeholders(MESSAGES["en"].get(key, ""))
    }
    assert differing == {}


def test_every_template_is_valid_telegram_html() -> None:
    problems = []
    for lang in LANGUAGES:
        for key, template in sorted(MESSAGES[lang].items()):
            text = template.format_map({name: SAMPLE for name in placeholders(template)})
            try:
                parse_html(text)  # raises on bad markup, a bare < or &, an unknown entity
            except EntityParseError as error:
                problems.append(f"{lang}/{key}: {error}")
    assert problems == []


def test_button_labels_are_short_plain_text() -> None:
    def bad_label(text: str) -> bool:
        return bool(re.search(r"<[a-zA-Z/]|&\w+;", text)) or not 0 < len(text) <= 64

    bad = [
        f"{lang}/{key}: {text!r}"
        for lang in LANGUAGES
        for key, text in sorted(MESSAGES[lang].items())
        if key.startswith("btn.") and bad_label(text)
    ]
    assert bad == []


def test_the_html_check_can_fail() -> None:
    with pytest.raises(EntityParseError):
        parse_html("Giá <b>1 < 2</b>")


def _write(root: Path, lang: str, name: str, text: str) -> None:
    (root / lang).mkdir(parents=True, exist_ok=True)
    (root / lang / name).write_text(text, encoding="utf-8")


def test_files_merge_and_nested_keys_flatten(tmp_path: Path) -> None:
    _write(tmp_path, "vi", "a.yaml", "btn:\n  back: Quay lại\n")
    _write(tmp_path, "vi", "b.yaml", "reg.title: 'Bước {step}/2'\n")
    _write(tmp_path, "en", "a.yaml", "btn: {back: Back}\n")
    i18n = I18n.load(tmp_path)
    assert i18n.t("vi", "btn.back") == "Quay lại"
    assert i18n.t("vi", "reg.title", step=1) == "Bước 1/2"
    # missing in English: falls back to Vietnamese
    assert i18n.t("en", "reg.title", step=2) == "Bước 2/2"
    assert i18n.t("en", "btn.back") == "Back"
    with pytest.raises(KeyError):
        i18n.template("en", "nope")


def test_a_key_defined_in_two_files_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "vi", "bot.yaml", "btn:\n  back: Quay lại\n")
    _write(tmp_path, "vi", "flow.yaml", "btn.back: Trở lại\n")
    with pytest.raises(LocaleError, match=r"duplicate key btn\.back"):
        load_locales(tmp_path)


def test_a_key_defined_twice_in_one_file_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "vi", "bot.yaml", "btn:\n  back: A\n  back: B\n")
    with pytest.raises(LocaleError):
        load_locales(tmp_path)


def test_non_text_values_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "vi", "bot.yaml", "count: 3\n")
    with pytest.raises(LocaleError, match="count must be text"):
        load_locales(tmp_path)


def test_placeholders_and_languages() -> None:
    assert placeholders("{a} và {b.c} {{literal}}") == {"a", "b"}
    assert normalize_language("en-US") == "en"
    assert normalize_language("vi") == "vi"
    assert normalize_language("fr") is None
    assert normalize_language(None) is None

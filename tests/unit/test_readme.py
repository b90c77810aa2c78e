"""The README points only at files that exist in the repository.

Every relative file reference in the README — Markdown links and images, and code spans that
look like a path of ours (``payments/vnptpay.py``, ``sandbox/vnptpay/``) — must name a file or
folder of this checkout. URL paths (``/healthz``), commands and URLs are not file references.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

_LINK = re.compile(r"\]\(([^)#\s]+)\)")
_CODE = re.compile(r"`([^`\s]+)`")
_TOP_LEVEL = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {"shared"}
_FILE_NAME = re.compile(r"[\w.-]+\.(py|md|yaml|yml|toml|json)")


def _references(text: str) -> set[str]:
    refs = {m for m in _LINK.findall(text) if "://" not in m}
    for span in _CODE.findall(text):
        head = span.split("/", 1)[0]
        if ("/" in span and head in _TOP_LEVEL) or _FILE_NAME.fullmatch(span):
            refs.add(span)
    return refs


def test_the_reference_extractor_finds_links_and_paths() -> None:
    text = "see [a](docs/x.md), ![s](docs/s.png), `bot/app.py`, `/healthz`, `https://t.me/x`"
    assert _references(text) == {"docs/x.md", "docs/s.png", "bot/app.py"}


def test_every_file_the_readme_names_exists_in_the_repository() -> None:
    refs = _references(README.read_text(encoding="utf-8"))
    assert refs, "the README names no file at all: the extractor is broken"
    missing = sorted(ref for ref in refs if not (ROOT / ref).exists())
    assert not missing, f"the README names files that are not in the repository: {missing}"

"""Top costs from a py-spy raw (collapsed stacks) recording, as ``python -m bench --py-spy``
writes them:

    python -m bench.profile /tmp/spy/product-polling.txt [--top 25] [--filter onesme]

``self`` is the share of samples in which the function was the innermost frame; ``total``
the share in which it was anywhere on the stack (counted once per sample).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.rsplit("i12-bench/", 1)[-1]
    return f"{match.group('func')} ({path})"


def summarise(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread (")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    return samples, own, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("recording", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default="", help="only functions whose name contains this")
    args = parser.parse_args(argv)
    samples, own, total = summarise(args.recording)
    if not samples:
        print("no samples", file=sys.stderr)
        return 1
    print(f"{samples} samples")
    for title, counter in (("total", total), ("self", own)):
        print(f"\n-- by {title} --")
        shown = [(n, c) for n, c in counter.most_common() if args.filter in n][: args.top]
        for name, count in shown:
            print(f"{100 * count / samples:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

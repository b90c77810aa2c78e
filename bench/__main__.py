"""``python -m bench``: the product against a bare aiogram bot and a bare PTB bot.

    python -m bench                                   # product (SQLite), aiogram, ptb; both modes
    python -m bench --db postgres --redis             # the product on PostgreSQL + Redis
    python -m bench --bots product,product-pg-redis,aiogram,ptb --repeat 3 --out bench.json
    python -m bench --users 20 --inflight 5 --modes polling   # a quick look
    python -m bench --rate 20 --users 200             # open loop: 20 updates/s, ≤ 50 users at once
    python -m bench --think-typed 1.5                 # users take 1.5-3 s to type each answer

Prints a Markdown table (and ratios product/bare per repeat) and writes the JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.driver import BotSpec, RunConfig, RunResult, run_one
from bench.report import aggregate, machine, table

BOT_NAMES = ("product", "product-pg-redis", "aiogram", "ptb")


def specs(names: list[str], db: str, redis: bool) -> list[BotSpec]:
    result: list[BotSpec] = []
    for name in names:
        if name == "product":
            label = "product" if db == "sqlite" and not redis else f"product-{db}{'-redis' * redis}"
            result.append(BotSpec(label, "product", db=db, redis=redis))
        elif name == "product-pg-redis":
            result.append(BotSpec(name, "product", db="postgres", redis=True))
        else:
            result.append(BotSpec(name, name))
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bots",
        default="product,aiogram,ptb",
        help=f"comma-separated, from {', '.join(BOT_NAMES)}",
    )
    parser.add_argument("--modes", default="polling,webhook", help="polling, webhook or both")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the database of the 'product' bot",
    )
    parser.add_argument("--redis", action="store_true", help="the 'product' bot uses Redis")
    parser.add_argument("--users", type=int, default=200, help="simulated users per run")
    parser.add_argument(
        "--inflight",
        type=int,
        default=50,
        help="users playing at once (with --rate: the most playing at once)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help="open loop: send R updates a second on a clock instead of each user acting at"
        " once after the bot's reply (closed loop, the default)",
    )
    parser.add_argument(
        "--arrival",
        choices=("poisson", "fixed"),
        default="poisson",
        help="with --rate: exponential (Poisson) or even gaps between updates",
    )
    parser.add_argument(
        "--think-typed",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="closed loop: each user waits SECONDS to twice SECONDS (uniformly) before each"
        " typed answer (the name, phone and e-mail; not /services), as a person reading the"
        " question and typing would; not counted in the latency. Default 0: answers at once,"
        " as in the published tables",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of every bot and mode")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait a reply")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="record the product's process with py-spy into DIR",
    )
    parser.add_argument(
        "--cprofile",
        type=Path,
        default=None,
        metavar="DIR",
        help="run the product under cProfile (main-thread CPU time) into DIR",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.bots.split(",") if n.strip()]
    unknown = [n for n in names if n not in BOT_NAMES]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown or not names:
        parser.error(f"unknown bot(s) {unknown}; choose from {', '.join(BOT_NAMES)}")
    if not modes or any(m not in ("polling", "webhook") for m in modes):
        parser.error("--modes takes polling, webhook or polling,webhook")
    if args.users < 1 or args.inflight < 1 or args.repeat < 1:
        parser.error("--users, --inflight and --repeat must be at least 1")
    if args.rate is not None and not args.rate > 0:
        parser.error("--rate must be above 0 updates a second")
    if not args.think_typed >= 0 or args.think_typed > args.timeout:
        parser.error("--think-typed must be between 0 and --timeout seconds")
    if args.think_typed and args.rate is not None:
        parser.error("--think-typed is for the closed loop (--rate sends on a clock)")
    args.bot_names, args.mode_list = names, modes
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    config = RunConfig(
        users=args.users,
        inflight=args.inflight,
        rate=args.rate,
        arrival=args.arrival,
        timeout=args.timeout,
        think_typed=args.think_typed,
        py_spy=args.py_spy,
        cprofile=args.cprofile,
    )
    bots = specs(args.bot_names, args.db, args.redis)
    document: dict[str, Any] = {
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "config": {
            "users": args.users,
            "inflight": args.inflight,
            "rate": args.rate,
            "arrival": args.arrival if args.rate is not None else None,
            "think_typed": args.think_typed,
            "repeat": args.repeat,
            "bots": [b.name for b in bots],
            "modes": args.mode_list,
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    runs: list[tuple[int, RunResult]] = []
    # interleaved (every bot once per repeat and mode) so that load from elsewhere on the
    # machine falls on all of them alike
    for repeat in range(args.repeat):
        for mode in args.mode_list:
            for spec in bots:
                print(
                    f"[{repeat + 1}/{args.repeat}] {mode} {spec.name} ...",
                    file=sys.stderr,
                    flush=True,
                )
                result = await run_one(spec, mode, config)
                runs.append((repeat, result))
                print(
                    f"    {result.updates} updates, {result.cpu_us_per_update:.0f} µs CPU/upd, "
                    f"p99 {result.p99_ms:.0f} ms, {result.failed_users} failed users"
                    + (
                        f", sent {result.achieved_rate:.1f}/s of {result.rate:g}/s asked"
                        if result.rate is not None
                        else ""
                    )
                    + (f"; {result.errors[0]}" if result.errors else ""),
                    file=sys.stderr,
                    flush=True,
                )
    document.update(aggregate(runs))
    document["runs"] = [{"repeat": repeat, **r.to_json()} for repeat, r in runs]
    return document


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    document = asyncio.run(run(args))
    print(table(document, args.repeat))
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\nJSON written to {args.out}", file=sys.stderr)
    failed = any(r["failed_users"] or r["violations"] for r in document["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

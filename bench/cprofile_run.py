"""``onesme-bot run`` under cProfile counting the main thread's CPU time (not wall time):

    python -m bench.cprofile_run OUT.prof      # then: python -m pstats OUT.prof

``python -m bench --cprofile DIR`` starts the product this way. Profiling starts once the bot
runs (after ``BotApp.start``: imports, migrations and the catalog load are left out), and the
statistics are written when the bot stops (SIGTERM). cProfile's own overhead inflates every
figure; read it for the ranking of costs (``tottime``: coroutines' cumulative times are not
meaningful), and take the CPU per update from a run without it.
"""

from __future__ import annotations

import cProfile
import sys
import time
from typing import Any


def main() -> int:
    out = sys.argv[1]
    from bot import app
    from bot.cli import main as cli_main

    profiler = cProfile.Profile(time.thread_time)
    started = app.BotApp.start

    async def start_then_profile(self: Any) -> None:
        await started(self)
        profiler.enable()

    app.BotApp.start = start_then_profile  # type: ignore[method-assign]
    try:
        return cli_main(["run"])
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    sys.exit(main())

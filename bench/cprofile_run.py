"""``onesme-bot run`` under cProfile counting the main thread's CPU time (not wall time):

    python -m bench.cprofile_run OUT.prof      # then: python -m pstats OUT.prof

``python -m bench --cprofile DIR`` starts the product this way. The statistics are written
when the bot stops (SIGTERM). cProfile's own overhead inflates every figure; read it for the
ranking of costs, and take the CPU per update from a run without it.
"""

from __future__ import annotations

import cProfile
import sys
import time


def main() -> int:
    out = sys.argv[1]
    from bot.cli import main as cli_main

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        return cli_main(["run"])
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    sys.exit(main())

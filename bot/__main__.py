"""``python -m bot``: the same as the ``onesme-bot`` command."""

from bot.cli import main

raise SystemExit(main())

"""``python -m tiering.cli``: the same as the ``tiering`` command."""

from tiering.console import main

main()

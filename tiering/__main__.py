"""``python -m tiering``: the same as the ``tiering`` command."""

from tiering.console import main

main()

"""Run the tiering CLI from a checkout: ``python cli.py run --month ...``."""

from tiering.console import main

if __name__ == "__main__":
    main()

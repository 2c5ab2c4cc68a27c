"""Run the tiering CLI from a checkout: ``python cli.py run --month ...``."""

try:
    from tiering.cli import main
except ImportError as exc:  # click (or another dependency) not installed
    raise SystemExit(f"error: tiering needs the package {exc.name}, which is not installed. "
                     "Install it with its dependencies: pip install -e .") from None

if __name__ == "__main__":
    main()

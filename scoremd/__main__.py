"""``python -m scoremd ...``: the same command line as the ``scoremd`` script."""

from .app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

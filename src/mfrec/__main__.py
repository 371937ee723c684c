"""Entry point of ``mfrec`` (the console script) and ``python -m mfrec``.

``mfrec`` (the console script) and ``python -m mfrec``: the command line, or one line naming
the extra to install when the CLI's dependencies are missing.
"""
from __future__ import annotations

import sys

from .errors import MissingExtraError


def main() -> None:
    """Run :func:`mfrec.cli.main`; without typer/rich print which extra to install (exit 2)."""
    try:
        from .cli import main as cli_main
    except MissingExtraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    cli_main()


if __name__ == "__main__":
    main()

"""A PANA client over UDP: ``python -m examples.pac --paa 127.0.0.1:716 --identity alice ...``.

The same program as ``pana-mpa pac``; the command-line code lives in ``pana_mpa.cli.peers``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pana_mpa.cli.peers import build_parser, run_pac


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging, run the PaC; return the exit status."""
    args = build_parser("pac", prog="python -m examples.pac").parse_args(argv)
    verbose = int(getattr(args, "verbose", 0))
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    return run_pac(args)


if __name__ == "__main__":
    sys.exit(main())

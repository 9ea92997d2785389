"""The pana-mpa command: demo, decode, pac, paa, radius-server (one module per subcommand)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
PANA (RFC 5191) client and agent, EAP methods and MPA handover tools: run a PaC or a PAA over
UDP, serve EAP methods to RADIUS clients, decode and verify captures, or run the in-memory demo.
"""

# Each subcommand module exposes add_parser(subparsers) and sets func(args) -> int on its parser.
_SUBCOMMANDS = (
    "pana_mpa.cli.demo",
    "pana_mpa.cli.decode",
    "pana_mpa.cli.pac",
    "pana_mpa.cli.paa",
    "pana_mpa.cli.radius",
    "pana_mpa.cli.chart",
)


def _verbosity(parser: argparse.ArgumentParser, *, suffix: str = "") -> None:
    """-v / -q; given before the subcommand and after it, the counts add up."""
    group = parser.add_argument_group("logging")
    group.add_argument(
        "-v", "--verbose", dest="verbose" + suffix, action="count", default=0,
        help="more logging (-vv: debug)",
    )  # fmt: skip
    group.add_argument(
        "-q", "--quiet", dest="quiet" + suffix, action="count", default=0,
        help="less logging (errors only)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="pana-mpa", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _verbosity(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    for subparser in sub.choices.values():
        _verbosity(subparser, suffix="_sub")
    return parser


def log_level(args: argparse.Namespace) -> int:
    """The logging level from -v and -q counted before and after the subcommand."""
    verbose = int(getattr(args, "verbose", 0)) + int(getattr(args, "verbose_sub", 0))
    quiet = int(getattr(args, "quiet", 0)) + int(getattr(args, "quiet_sub", 0))
    steps = max(-2, min(verbose - quiet, 2))
    return logging.WARNING - 10 * steps


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=log_level(args), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return rc

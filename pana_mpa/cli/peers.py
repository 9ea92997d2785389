"""``pana-mpa pac`` and ``pana-mpa paa`` registered together, and their names in one place.

The code lives by concept: ``options`` (arguments and their checks), ``users`` (secrets and user
tables), ``pac`` and ``paa`` (the two commands), ``aaa`` (the RADIUS back-end), ``common``.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import paa as _paa
from . import pac as _pac
from .aaa import RadiusBackend
from .common import CliError, event_text
from .options import (
    LEGACY_TLS_CIPHERS,
    METHODS,
    SUITES,
    TLS_VERSIONS,
    PaaOptions,
    PacOptions,
    TlsFiles,
    add_paa_arguments,
    add_pac_arguments,
    paa_options,
    pac_options,
)
from .paa import SERVER_ID, PaaFactory, build_paa, eap_authenticator, paa_main, run_paa
from .pac import PacFactory, build_pac, eap_peer, pac_main, run_pac
from .users import parse_secret, parse_users

__all__ = [
    "LEGACY_TLS_CIPHERS",
    "METHODS",
    "SERVER_ID",
    "SUITES",
    "TLS_VERSIONS",
    "CliError",
    "PaaFactory",
    "PaaOptions",
    "PacFactory",
    "PacOptions",
    "RadiusBackend",
    "TlsFiles",
    "add_paa_arguments",
    "add_pac_arguments",
    "add_parser",
    "build_paa",
    "build_pac",
    "build_parser",
    "eap_authenticator",
    "eap_peer",
    "event_text",
    "paa_main",
    "paa_options",
    "pac_main",
    "pac_options",
    "parse_secret",
    "parse_users",
    "run_paa",
    "run_pac",
]


def add_parser(sub: Any) -> None:
    """Register the pac and paa subcommands."""
    _pac.add_parser(sub)
    _paa.add_parser(sub)


def build_parser(role: str, prog: str | None = None) -> argparse.ArgumentParser:
    """A standalone parser for one role."""
    module = _pac if role == "pac" else _paa
    parser = argparse.ArgumentParser(prog=prog, description=module.__doc__)
    (add_pac_arguments if role == "pac" else add_paa_arguments)(parser)
    return parser

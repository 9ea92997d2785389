"""``pana-mpa pac`` with the EAP-TLS peer's opt-in NSS key log: ``python -m tests.udp_keylog_pac``.

The CLI has no key-log option (on purpose: it writes TLS secrets), so the UDP matrix runs the
very same ``run_pac`` with a PaC factory whose ``TlsPeer`` gets ``key_log`` (the library's own
opt-in, ``eap.methods.tls``). The test derives the EAP-TLS MSK from that log by RFC 8446 s7.5 /
RFC 9190 s2.3 itself, so ``decode --verify --msk-hex`` checks the PANA AUTH AVPs independently
of our TLS key export. Usage: ``--key-log FILE`` then the usual ``pana-mpa pac`` arguments.
"""

from __future__ import annotations

import sys
from typing import TextIO

from eap.methods.base import Rng
from eap.methods.tls import TlsPeer
from eap.peer import EapPeer
from pana_mpa.cli.peers import PacFactory, PacOptions, build_parser, run_pac
from pana_mpa.config import PacConfig
from pana_mpa.flow import FlowTrace
from pana_mpa.pac import PacSession
from pana_mpa.trace import NULL_TRACE

__all__ = ["keylog_factory", "main"]


def keylog_factory(log: TextIO) -> PacFactory:
    """A PacFactory like ``build_pac`` for ``--method tls``, with the TLS key log on."""

    def build(opts: PacOptions, rng: Rng, trace: FlowTrace | None) -> PacSession:
        tls = opts.tls
        config = PacConfig(prf_algorithms=(opts.prf,), integrity_algorithms=(opts.integrity,))
        peer = EapPeer(
            identity=opts.identity,
            methods={
                TlsPeer.method_type: lambda: TlsPeer(
                    ca=tls.ca, cert=tls.cert, key=tls.key, key_log=log
                )
            },
        )
        return PacSession(config, paa=opts.paa, eap=peer, rng=rng, trace=trace or NULL_TRACE)

    return build


def main(argv: list[str]) -> int:
    """``--key-log FILE`` then ``pana-mpa pac`` arguments (``--method tls`` only)."""
    if len(argv) < 2 or argv[0] != "--key-log":
        sys.stderr.write("usage: python -m tests.udp_keylog_pac --key-log FILE PAC-ARGS...\n")
        return 2
    args = build_parser("pac", prog="pana-mpa pac").parse_args(argv[2:])
    if args.method != "tls":
        sys.stderr.write("tests.udp_keylog_pac: only --method tls has a key log\n")
        return 2
    with open(argv[1], "w", encoding="ascii") as log:
        return run_pac(args, factory=keylog_factory(log))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

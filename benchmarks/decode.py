"""``pana-mpa decode`` throughput on a shared capture: reading, decoding, and AUTH verification."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._timing import measure
from eap.keys import Secret
from pana_mpa.cli.capture import read_pana, read_udp
from pana_mpa.cli.decode import decode_datagrams
from pana_mpa.cli.verify import AuthVerifier

_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "pcaps"


def _rate(fn: Callable[[], int], seconds: float) -> float:
    """Datagrams per second: fn() returns how many datagrams one call handled."""
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        count += fn()
    return count / elapsed


def main() -> None:
    """Print datagrams per second (median of three runs) for each stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    parser.add_argument(
        "--capture",
        type=Path,
        default=Path(os.environ.get("PANA_CAPTURES", _DEFAULT)) / "openpana-loopback.pcapng",
    )
    args = parser.parse_args()
    datagrams = read_pana(args.capture)
    psk = Secret(b"SecretPassphrase")  # the capture's published test PSK
    cases: dict[str, Callable[[], int]] = {
        "read pcapng (our streaming reader + link/IP/UDP parse)": lambda: len(
            list(read_udp(args.capture))
        ),
        "decode + re-encode check": lambda: len(decode_datagrams(datagrams)),
        "decode + --verify (EAP-PSK MSKs, keys, AUTH)": lambda: len(
            decode_datagrams(datagrams, annotators=[AuthVerifier(identity=b"user1", psk=psk)])
        ),
    }
    print(f"{args.capture.name}: {len(datagrams)} PANA datagrams")
    for name, fn in cases.items():
        rates = sorted(_rate(fn, args.seconds) for _ in range(3))
        m = measure(fn, args.seconds)
        print(f"{name}: {rates[1]:,.0f} datagrams/s; one pass over the capture {m}")


if __name__ == "__main__":
    main()

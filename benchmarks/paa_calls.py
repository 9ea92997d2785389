"""Function calls the sans-IO PAA makes per full EAP-PSK authentication (deterministic).

``python -m benchmarks.paa_calls [--auths 200] [--top 25]``

The same authentication as ``bench_paa.sansio_paa_cost`` (a PacSession and a PaaServer pumped in
memory), with cProfile switched on only around the PAA-side calls (``receive_datagram``,
``datagrams_to_send``, ``next_event``, ``get_timer``). Prints the total calls per authentication
(Python functions and builtins, as cProfile counts them) and the functions called most. Call
counts do not depend on the load, so two commits compare directly; the first authentication
(cookie secret, first-use caches) is left out.
"""

from __future__ import annotations

import argparse
import cProfile

from pana_mpa.address import Address

from .bench_paa import paa_server, paa_step, pac_session

PAA: Address = ("192.0.2.1", 716)


def profile(auths: int) -> list[tuple[str, int]]:
    """Run ``auths`` + 1 authentications, profiling the PAA side of all but the first.

    (function, calls) per code object: pstats would merge functions that share a file, line and
    name (every dataclass ``__init__`` and ``frozen_maker`` constructor is ``<string>:1``).
    """
    server = paa_server()
    profiler = cProfile.Profile()
    for i in range(auths + 1):
        addr: Address = (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 40000)
        pac = pac_session(PAA)
        now = float(i)
        pac.start(now)
        while sent := pac.datagrams_to_send(now):
            if i:
                profiler.enable()
            answers = paa_step(server, sent, addr, now)
            profiler.disable()
            for data, _ in answers:
                pac.receive_datagram(data, PAA, now)
        assert pac.has_key
    rows: dict[str, int] = {}
    for entry in profiler.getstats():
        code = entry.code
        if isinstance(code, str):  # a builtin
            name = code
        else:
            short = "/".join(code.co_filename.rsplit("/", 2)[-2:])
            name = f"{short}:{code.co_firstlineno} {code.co_qualname}"
        rows[name] = rows.get(name, 0) + entry.callcount
    rows.pop("<method 'disable' of '_lsprof.Profiler' objects>", None)
    for name in [n for n in rows if n.endswith(" paa_step")]:
        del rows[name]  # the benchmark's own wrapper, not the PAA's work
    return sorted(rows.items(), key=lambda row: -row[1])


def main() -> None:
    """Print calls per authentication and the most-called functions."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--auths", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    rows = profile(args.auths)
    n = args.auths
    total = sum(calls for _, calls in rows)
    print(f"sans-IO PAA, EAP-PSK: {total / n:,.1f} calls per authentication ({n} auths)")
    for name, calls in rows[: args.top]:
        print(f"  {calls / n:7.1f}  {name}")


if __name__ == "__main__":
    main()

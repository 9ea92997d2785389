"""Run one fuzz target for a while: ``python -m fuzz.run pana --seconds 600``.

Engines: ``atheris`` (coverage-guided libFuzzer; ``pip install atheris``; the default when it
imports) keeps its corpus in ``.fuzz/corpus/<target>`` (seeded from the target's seeds) and writes
crashing inputs to ``.fuzz/crashes/<target>/``; ``hypothesis`` (no extra install) generates random
and mutated seed inputs until the time is up. Exit status 0 means nothing escaped.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .registry import Target, all_targets, get_target

__all__ = ["main"]

logger = logging.getLogger(__name__)

_WORKDIR = Path(".fuzz")
_INSTRUMENTED = ["pana_codecs", "eap", "pana_mpa", "fuzz"]


def _write_seeds(target: Target, corpus: Path) -> int:
    """Write the target's seeds into ``corpus`` (named by content hash); return how many."""
    corpus.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in target.seeds():
        path = corpus / hashlib.sha1(seed, usedforsecurity=False).hexdigest()
        if not path.exists():
            path.write_bytes(seed)
        count += 1
    return count


def _run_atheris(name: str, seconds: float, corpus: Path | None, extra: Sequence[str]) -> int:
    """A libFuzzer campaign through atheris; libFuzzer exits the process when it is done."""
    import atheris  # optional: pip install atheris

    with atheris.instrument_imports(include=_INSTRUMENTED):
        target = get_target(name)
        seeds = tuple(target.seeds())  # imports what the seeds need, instrumented too
    corpus = corpus or _WORKDIR / "corpus" / name
    crashes = _WORKDIR / "crashes" / name
    crashes.mkdir(parents=True, exist_ok=True)
    logger.info("%s: %d seeds into %s", name, _write_seeds(target, corpus), corpus)
    del seeds
    argv = [
        sys.argv[0],
        f"-max_total_time={max(1, int(seconds))}",
        f"-max_len={target.max_size}",
        f"-artifact_prefix={crashes}/",
        *extra,
        str(corpus),
    ]
    atheris.Setup(argv, target.function)
    atheris.Fuzz()
    return 0  # pragma: no cover - atheris.Fuzz() exits


def run_hypothesis(name: str, seconds: float, *, chunk: int = 2000) -> int:
    """Random and mutated-seed inputs in chunks of ``chunk`` until ``seconds`` have passed.

    Returns the number of inputs tried; a finding propagates (hypothesis shrinks it first).
    """
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from .strategies import inputs

    target = get_target(name)
    strategy = inputs(target)
    tried = 0

    def one(data: bytes) -> None:
        nonlocal tried
        tried += 1
        target.function(data)

    deadline = time.monotonic() + seconds
    round_no = 0
    while time.monotonic() < deadline:
        test = settings(
            max_examples=chunk,
            deadline=None,
            database=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )(given(strategy)(one))
        seed(round_no)(test)()
        round_no += 1
    return tried


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m fuzz.run TARGET [--seconds N] [--engine E] [-- libFuzzer ...]``."""
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__)
    parser.add_argument("target", nargs="?", help="target name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--seconds", type=float, default=600.0, help="campaign length")
    parser.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    parser.add_argument("--corpus", type=Path, help="atheris corpus directory")
    parser.add_argument("extra", nargs="*", help="arguments for libFuzzer, after --")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.list or not args.target:
        for target in all_targets().values():
            sys.stdout.write(f"{target.name:16} {target.doc}\n")
        return 0
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "hypothesis"
        else:
            engine = "atheris"
    try:
        if engine == "atheris":
            # The targets' modules are imported inside _run_atheris, under instrumentation.
            return _run_atheris(args.target, args.seconds, args.corpus, args.extra)
        tried = run_hypothesis(args.target, args.seconds)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    sys.stdout.write(f"{args.target}: {tried} inputs in {args.seconds:g} s, no finding\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

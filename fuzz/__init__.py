"""Fuzzing: a registry of targets (name -> function(bytes)), seed corpora, and a runner.

A target is a function that takes any byte string and raises nothing: it catches the errors its
code under test documents (``CodecError`` for the codecs) and checks its own properties (e.g. an
accepted message re-encodes byte-identically) with ``check``. Any exception that escapes is a
finding. The same targets run

* in CI, bounded, through hypothesis (``tests/test_fuzz.py``, marker ``fuzz``), and
* in a long campaign through atheris: ``python -m fuzz.run pana --seconds 600``
  (``python -m fuzz.run --list`` names the targets; ``--engine hypothesis`` needs no atheris).

To add targets (an EAP method's parser, RADIUS, DHCP/RA, the PAA/PaC datagram entry points):
write a module under ``fuzz/targets/`` whose functions are decorated with
``@register("name", seeds=...)``, and list the module in ``fuzz.targets.MODULES``.
"""

from __future__ import annotations

from .registry import TARGETS, Finding, Target, all_targets, check, get_target, register

__all__ = ["TARGETS", "Finding", "Target", "all_targets", "check", "get_target", "register"]

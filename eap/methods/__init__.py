"""EAP methods: one module per method, each with a peer and a server side."""

from __future__ import annotations

from .base import AuthMethod, AuthStep, Decision, MethodStep, PeerMethod, Rng

__all__ = ["AuthMethod", "AuthStep", "Decision", "MethodStep", "PeerMethod", "Rng"]

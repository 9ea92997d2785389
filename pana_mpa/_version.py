"""The version of the pana-mpa distribution: this line is the one place it is written."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.2.0"

"""The one exception every decoder in this package raises."""

from __future__ import annotations

__all__ = ["CodecError"]


class CodecError(ValueError):
    """Malformed wire data: ``reason`` at byte ``offset`` (``path`` names the field)."""

    def __init__(self, reason: str, offset: int = 0, path: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.path = path
        where = f" ({path})" if path else ""
        super().__init__(f"{reason} at offset {offset}{where}")

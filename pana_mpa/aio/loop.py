"""The event loop the programs run on: uvloop when installed (the ``fast`` extra), else asyncio's.

``PANA_MPA_LOOP=asyncio`` in the environment forces asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import os

__all__ = ["new_event_loop"]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's if it is installed (and not disabled), else asyncio's."""
    if os.environ.get("PANA_MPA_LOOP", "") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()

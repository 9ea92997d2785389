"""MPA drivers: the asyncio and kernel side of MPA (controller, agent, DHCP relay, Linux tunnel).

The protocol decisions live in the sans-IO ``pana_mpa.mpa`` core; these modules perform the I/O.
"""

from __future__ import annotations

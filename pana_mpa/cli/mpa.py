"""``pana-mpa demo --mpa``: the MPA handover in memory, as a timeline (text or JSON lines)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..address import Address, format_address
from ..flow import describe_datagram
from ..mpa.handover import MpaEvent
from .demo import Pictures
from .mpa_demo import run_mpa_demo

__all__ = ["run_mpa_cli"]

_STEP_TEXT = {
    "pre_authenticated": "1 pre-authentication with the candidate PAA (E flag) done",
    "pre_configured": "2 pre-configuration: nCoA delivered by the PAA's DHCP relay",
    "tunnel_up": "3 proactive tunnel oCoA <-> AR up (PANA-Update establish)",
    "binding_updated": "3 binding update with nCoA answered by the CN",
    "pre_switched": "4 pre-switch: PANA-Update (disable) answered, the AR buffers for nCoA",
    "switched": "5 link-layer switch: nCoA on the new link, the MN's tunnel end removed",
    "tunnel_released": "6 PANA-Update from nCoA (E clear): tunnel deleted",
    "handover_complete": "  handover complete",
}


def run_mpa_cli(args: argparse.Namespace) -> int:
    """Print the MPA timeline; JSON lines with ``--json``."""
    as_json = bool(args.json)
    out = sys.stdout

    def emit(record: dict[str, Any]) -> None:
        if as_json:
            if record["kind"] == "step":  # one object per MPA step: its name and time
                out.write(json.dumps(record, sort_keys=True) + "\n")
        elif record["kind"] == "message":
            out.write(f"{record['t']:8.3f}s  {record['from']:>18} -> {record['to']:<18} "
                      f"{record['message']}\n")  # fmt: skip
        else:
            text = _STEP_TEXT.get(record["step"], record["step"])
            details = " ".join(f"{k}={v}" for k, v in record.get("detail", {}).items())
            out.write(f"{record['t']:8.3f}s  == {text}  {details}\n")

    def tap(now: float, src: Address, dst: Address, data: bytes) -> None:
        pictures.capture(now, src, dst, data)
        if 716 not in (src[1], dst[1]):
            emit_later.append(
                (
                    now,
                    {
                        "kind": "message",
                        "t": round(now, 6),
                        "from": format_address(src),
                        "to": format_address(dst),
                        "message": "(data) " + data[:24].decode(errors="replace"),
                    },
                )
            )
            return
        d = describe_datagram(data)
        flags = d.get("flags", "")
        name = f"{d.get('type')}[{flags}]" if flags else str(d.get("type"))
        vendor = sum(1 for a in d.get("avps", []) if a.get("vendor_id"))
        text = f"{name} seq={d.get('seq')}" + (f" +{vendor} MPA AVPs" if vendor else "")
        emit_later.append((now, {"kind": "message", "t": round(now, 6),
                                 "from": format_address(src), "to": format_address(dst),
                                 "message": text}))  # fmt: skip

    emit_later: list[tuple[float, dict[str, Any]]] = []
    pictures = Pictures(getattr(args, "pcap", None), getattr(args, "chart", None))

    def on_step(step: MpaEvent) -> None:
        record = {"kind": "step", "step": step.step, "t": round(step.time, 6),
                  "detail": dict(step.detail)}  # fmt: skip
        emit_later.append((step.time, record))

    result = run_mpa_demo(seed=int(args.seed), tap=tap, on_step=on_step)
    # in the order things happened: datagrams and steps were appended as they occurred
    for _, record in emit_later:
        emit(record)
    done = any(s.step == "handover_complete" for s in result.steps)
    if not as_json:
        out.write("handover complete\n" if done else "handover FAILED\n")
    chart_records = [_chart_record(r) for _, r in emit_later]
    failed = pictures.finish(chart_records, "MPA handover (RFC 6252 s6.3), virtual time")
    return failed or (0 if done else 1)


def _chart_record(record: dict[str, Any]) -> dict[str, Any]:
    """A timeline record in the chart's JSON-lines form (message arrows, step notes)."""
    if record["kind"] == "step":
        return {"t": record["t"], "step": _STEP_TEXT.get(record["step"], record["step"])}
    return {"t": record["t"], "from": record["from"], "to": record["to"],
            "type": record["message"], "flags": "", "avps": []}  # fmt: skip

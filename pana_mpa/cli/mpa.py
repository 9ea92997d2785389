"""``pana-mpa demo --mpa``: the MPA handover in memory, as a timeline (text or JSON lines)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..address import Address, format_address
from ..flow import describe_datagram
from ..mpa.handover import MpaEvent
from ..trace import trace_record
from .demo import Pictures, write_header
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
    """Print the MPA timeline; JSON lines with ``--json`` (docs/trace-format.md)."""
    as_json = bool(args.json)
    out = sys.stdout
    records: list[dict[str, Any]] = []  # in the order things happened
    pictures = Pictures(getattr(args, "pcap", None), getattr(args, "chart", None))

    def tap(now: float, src: Address, dst: Address, data: bytes) -> None:
        pictures.capture(now, src, dst, data)
        fields: dict[str, Any] = {"src": format_address(src), "dst": format_address(dst)}
        if 716 not in (src[1], dst[1]):
            fields.update(type="data", length=len(data), text=data[:24].decode(errors="replace"))
            records.append(trace_record(now, "data", fields))
            return
        fields.update(describe_datagram(data))
        records.append(trace_record(now, "message", fields))

    def on_step(step: MpaEvent) -> None:
        fields: dict[str, Any] = {"step": step.step}
        fields["text"] = _STEP_TEXT.get(step.step, step.step)
        fields["detail"] = dict(step.detail)
        records.append(trace_record(step.time, "step", fields))

    result = run_mpa_demo(seed=int(args.seed), tap=tap, on_step=on_step)
    if as_json:
        write_header(out, "demo-mpa", pictures.reference_time, _TITLE)
    for record in records:
        if as_json:
            out.write(json.dumps(record) + "\n")
        else:
            out.write(_text_line(record) + "\n")
    done = any(s.step == "handover_complete" for s in result.steps)
    if not as_json:
        out.write("handover complete\n" if done else "handover FAILED\n")
    failed = pictures.finish(records, _TITLE)
    return failed or (0 if done else 1)


_TITLE = "MPA handover (RFC 6252 s6.3), virtual time"


def _text_line(record: dict[str, Any]) -> str:
    t = f"{record['t']:8.3f}s"
    if record["event"] == "step":
        details = " ".join(f"{k}={v}" for k, v in record["detail"].items())
        return f"{t}  == {record['text']}  {details}"
    return f"{t}  {record['src']:>18} -> {record['dst']:<18} {_message_text(record)}"


def _message_text(record: dict[str, Any]) -> str:
    """``PAR[S] seq=3 +2 MPA AVPs``, or ``(data) ...`` for a non-PANA datagram."""
    if record["event"] == "data":
        return "(data) " + str(record["text"])
    flags = record.get("flags", "")
    name = f"{record.get('type')}[{flags}]" if flags else str(record.get("type"))
    vendor = sum(1 for a in record.get("avps", []) if a.get("vendor_id"))
    return f"{name} seq={record.get('seq')}" + (f" +{vendor} MPA AVPs" if vendor else "")

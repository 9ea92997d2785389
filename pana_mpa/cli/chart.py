"""Message-sequence charts as PNG: from a capture, a JSON-lines trace, or the demos.

One column per endpoint, one arrow per PANA message (``PAR[S] seq=0``), time downwards, and
optional step notes (the MPA handover's steps). Drawing needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..address import format_address
from ..flow import describe_datagram
from .capture import CaptureError, read_pana

__all__ = ["ChartError", "Message", "add_parser", "draw_chart", "messages_from_trace"]

_MAX_MESSAGES = 400


class ChartError(Exception):
    """Input that cannot be charted, or matplotlib missing; the message says which."""


@dataclass(frozen=True, slots=True)
class Message:
    """One arrow (when, from which endpoint to which, its label), or a note across the chart."""

    time: float
    src: str
    dst: str
    label: str
    note: bool = False


def _label(record: dict[str, Any]) -> str:
    """``PAR[S] seq=0 EAP Request/Identity``: message, flags, sequence number, EAP summary."""
    kind = str(record.get("type", "?"))
    if "seq" not in record:
        return kind if len(kind) <= 60 else kind[:57] + "..."
    if kind == "undecodable":
        return f"undecodable ({record.get('size', '?')} octets)"
    flags = record.get("flags") or ()
    text = kind + (f"[{','.join(flags)}]" if flags else "") + f" seq={record['seq']}"
    eap = [a["eap"] for a in record.get("avps", ()) if "eap" in a]
    return text + (f" EAP {eap[0]}" if eap else "")


def messages_from_capture(path: Path) -> list[Message]:
    """The PANA datagrams of a pcap/pcapng file as arrows (times relative to the first)."""
    try:
        datagrams = read_pana(path)
    except CaptureError as exc:
        raise ChartError(str(exc)) from exc
    if not datagrams:
        raise ChartError(f"{path}: no PANA datagrams")
    t0 = datagrams[0].time
    return [
        Message(
            d.time - t0,
            format_address(d.src),
            format_address(d.dst),
            _label(describe_datagram(d.payload)),
        )
        for d in datagrams
    ]


def messages_from_trace(lines: Iterable[str]) -> list[Message]:
    """Arrows and notes, in order, from JSON lines (``demo --json``: ``t``, ``from``, ``to``...)."""
    found: list[Message] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ChartError(f"line {number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "t" not in record:
            continue
        t = float(record["t"])
        if "from" in record and "to" in record and "type" in record:
            found.append(Message(t, str(record["from"]), str(record["to"]), _label(record)))
        elif "outcome" in record:
            found.append(Message(t, "", "", f"{record.get('role', '')} {record['outcome']}", True))
        elif "step" in record:
            found.append(Message(t, "", "", str(record["step"]), True))
    if not any(not m.note for m in found):
        raise ChartError("no messages in the trace (expected demo --json lines)")
    return found


def draw_chart(messages: Sequence[Message], path: Path, *, title: str = "") -> None:
    """Render the chart to ``path`` (PNG), in the order given."""
    try:
        import matplotlib
    except ImportError:
        raise ChartError("drawing needs matplotlib: pip install 'pana-mpa[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(messages[:_MAX_MESSAGES])
    columns: list[str] = []
    for m in shown:
        for end in (m.src, m.dst):
            if not m.note and end not in columns:
                columns.append(end)
    x = {name: i for i, name in enumerate(columns)}
    fig, ax = plt.subplots(figsize=(max(6.0, 2.6 * len(columns)), 1.2 + 0.32 * len(shown)))
    for name, i in x.items():
        ax.plot([i, i], [0, len(shown) + 1], color="black", linewidth=0.8)
        ax.text(i, -0.4, name, ha="center", va="bottom", fontsize=8, fontweight="bold")
    for row, m in enumerate(shown, 1):
        if m.note:
            ax.text(-0.45, row, f"{m.time:7.3f}s  == {m.label}", fontsize=7, color="darkgreen",
                    va="center")  # fmt: skip
            continue
        a, b = x[m.src], x[m.dst]
        ax.annotate("", xy=(b, row), xytext=(a, row),
                    arrowprops={"arrowstyle": "->", "linewidth": 0.8})  # fmt: skip
        ax.text((a + b) / 2, row - 0.12, m.label, ha="center", va="bottom", fontsize=6.5)
        ax.text(-0.45, row, f"{m.time:7.3f}s", fontsize=6.5, color="grey", va="center")
    ax.set_xlim(-0.5, max(1, len(columns) - 1) + 0.3)
    ax.set_ylim(len(shown) + 1, -1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    if len(messages) > _MAX_MESSAGES:
        fig.text(0.01, 0.005, f"first {_MAX_MESSAGES} of {len(messages)} entries", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_parser(sub: Any) -> None:
    """Register the chart subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "chart",
        help="draw a message-sequence chart (PNG) from a capture or a demo --json trace",
        description="Draw a message-sequence chart (PNG) from a pcap/pcapng capture, or from "
        "JSON lines written by 'pana-mpa demo --json' ('-' reads them from stdin).",
    )
    p.add_argument("input", help="capture file, or JSON-lines trace (.json/.jsonl or '-')")
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    p.add_argument("--title", default="", help="chart title (default: the input's name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the input, draw the chart; exit 2 with a one-line reason on bad input."""
    name = str(args.input)
    try:
        if name == "-":
            messages = messages_from_trace(sys.stdin)
        elif name.endswith((".json", ".jsonl")):
            with open(name, encoding="utf-8") as fh:
                messages = messages_from_trace(fh)
        else:
            messages = messages_from_capture(Path(name))
        draw_chart(messages, Path(args.output), title=args.title or name)
    except (ChartError, OSError) as exc:
        sys.stderr.write(f"pana-mpa chart: {exc}\n")
        return 2
    sys.stderr.write(f"{len(messages)} messages drawn to {args.output}\n")
    return 0

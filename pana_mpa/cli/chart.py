"""Message-sequence charts as PNG: from a capture, a JSON-lines trace, or the demos.

One column per endpoint, one arrow per PANA message (``PAR[S] seq=0``), time downwards, and
optional step notes (the MPA handover's steps). Drawing needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..address import format_address
from ..flow import describe_datagram, eap_text
from ..trace import TraceFormatError, parse_trace
from .capture import CaptureError, read_pana

__all__ = [
    "ChartError",
    "Message",
    "add_parser",
    "draw_chart",
    "messages_from_records",
    "messages_from_trace",
]

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
    if record.get("event") == "data":
        text = "(data) " + str(record.get("text", f"{record.get('length', '?')} octets"))
        return text if len(text) <= 60 else text[:57] + "..."
    if kind in ("undecodable", "None") or record.get("seq") is None:
        return f"undecodable ({record.get('length', '?')} octets)"
    flags = record.get("flags") or ()
    text = kind + (f"[{','.join(flags)}]" if flags else "") + f" seq={record['seq']}"
    eap = [a["eap"] for a in record.get("avps") or () if "eap" in a]
    return text + (f" EAP {eap_text(eap[0])}" if eap else "")


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


def messages_from_trace(lines: Iterable[str], *, name: str = "trace") -> list[Message]:
    """Arrows and notes, in order, from a JSON-lines trace (docs/trace-format.md)."""
    try:
        header, records = parse_trace(lines, name=name)
    except TraceFormatError as exc:
        raise ChartError(str(exc)) from None
    return messages_from_records(records, source=str(header.get("source", "")))


def messages_from_records(records: Iterable[dict[str, Any]], *, source: str = "") -> list[Message]:
    """Arrows for ``message``/``data`` records, notes for ``outcome``/``step``/``session_event``.

    A message record names its ends (``src``, ``dst``: demo, decode) or, in an endpoint's own
    trace (``pac``/``paa --trace``), its direction ``dir``: then the ends are ``source`` and
    ``peer``.
    """
    found: list[Message] = []
    for record in records:
        t = float(record["t"])
        event = record.get("event")
        if event in ("message", "data"):
            if "src" in record and "dst" in record:
                src, dst = str(record["src"]), str(record["dst"])
            elif record.get("dir") in ("tx", "rx"):
                src, dst = source or "self", "peer"
                if record["dir"] == "rx":
                    src, dst = dst, src
            else:
                continue
            found.append(Message(t, src, dst, _label(record)))
        elif event == "outcome":
            found.append(Message(t, "", "", f"{record.get('role', '')} {record['outcome']}", True))
        elif event == "session_event":
            found.append(Message(t, "", "", str(record.get("name", "event")), True))
        elif event == "step":
            found.append(Message(t, "", "", str(record.get("text", record.get("step"))), True))
    if not any(not m.note for m in found):
        raise ChartError("no messages in the trace")
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
        help="draw a message-sequence chart (PNG) from a capture or a JSON-lines trace",
        description="Draw a message-sequence chart (PNG) from a pcap/pcapng capture, or from "
        "a JSON-lines trace (docs/trace-format.md) written by 'pana-mpa demo --json', "
        "'decode --json' or 'pac/paa --trace' ('-' reads it from stdin).",
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
            messages = messages_from_trace(sys.stdin, name="stdin")
        elif name.endswith((".json", ".jsonl")):
            with open(name, encoding="utf-8") as fh:
                messages = messages_from_trace(fh, name=name)
        else:
            messages = messages_from_capture(Path(name))
        draw_chart(messages, Path(args.output), title=args.title or name)
    except (ChartError, OSError) as exc:
        sys.stderr.write(f"pana-mpa chart: {exc}\n")
        return 2
    sys.stderr.write(f"{len(messages)} messages drawn to {args.output}\n")
    return 0

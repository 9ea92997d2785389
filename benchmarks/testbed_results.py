"""Handover testbed results: JSON with per-packet arrivals, a Markdown table, a PNG per scenario.

A run is a plain mapping (what ``benchmarks.handover_testbed`` records)::

    {"scenario": "ipv4 gap=130ms aaa=40ms cn=50ms dhcp-check", "family": "ipv4",
     "mode": "mpa-buffer", "interval_ms": 20, "lost": 0, "duplicates": 0,
     "interruption_ms": 171.3, "steps_ms": {"pre_switched": -12.0, "switched": 130.4, ...},
     "arrivals": [[seq, ms_after_move, "mn0"], ...], "move_seq": 412}

Times are milliseconds relative to the link-layer move (negative: before it). Plotting needs
matplotlib (the ``plot`` extra); the JSON and the table do not.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MODES", "markdown_table", "plot_scenario", "write_json", "write_results"]

MODES = ("non-mpa", "mpa", "mpa-buffer", "mpa-bicast")
"""The modes in the order tables and plots show them."""

Run = Mapping[str, Any]


def write_json(runs: Sequence[Run], path: Path, *, meta: Mapping[str, Any]) -> None:
    """All runs with their per-packet arrivals, and how they were made (``meta``)."""
    path.write_text(json.dumps({"meta": dict(meta), "runs": list(runs)}, indent=1) + "\n")


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return f"{med:g}"
    return f"{med:g} [{min(values):g}-{max(values):g}]"


def _grouped(runs: Iterable[Run]) -> dict[tuple[str, str], list[Run]]:
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((str(run["scenario"]), str(run["mode"])), []).append(run)
    return groups


def _mode_rank(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else len(MODES)


def markdown_table(runs: Sequence[Run], *, steps: Sequence[str] = ()) -> str:
    """Median [min-max] over the runs of each scenario and mode; failed runs counted apart."""
    header = ["scenario", "mode", "runs", "lost", "interruption ms", "duplicates"]
    header += [f"{s} ms" for s in steps]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    groups = _grouped(runs)
    order = sorted(groups, key=lambda k: (k[0], _mode_rank(k[1])))
    for scenario, mode in order:
        group = groups[(scenario, mode)]
        ok = [r for r in group if not r.get("error")]
        failed = len(group) - len(ok)
        count = f"{len(ok)}" + (f" (+{failed} failed)" if failed else "")
        row = [
            scenario,
            mode,
            count,
            _spread([float(r["lost"]) for r in ok]),
            _spread([round(float(r["interruption_ms"]), 1) for r in ok]),
            _spread([float(r["duplicates"]) for r in ok]),
        ]
        for step in steps:
            values = [
                round(float(r["steps_ms"][step]), 1) for r in ok if step in r.get("steps_ms", {})
            ]
            row.append(_spread(values))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _representative(group: Sequence[Run]) -> Run | None:
    ok = sorted((r for r in group if not r.get("error")), key=lambda r: r["interruption_ms"])
    return ok[len(ok) // 2] if ok else None


def plot_scenario(
    runs: Sequence[Run], scenario: str, path: Path, *, window_ms: float = 1500
) -> bool:
    """One PNG: received sequence number vs time around the move, a panel per mode.

    Each panel shows the run with the median interruption; MPA steps are marked. Returns False
    when the scenario has no successful run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {m: g for (s, m), g in _grouped(runs).items() if s == scenario}
    shown = [(m, r) for m in sorted(groups, key=_mode_rank) if (r := _representative(groups[m]))]
    if not shown:
        return False
    fig, axes = plt.subplots(len(shown), 1, figsize=(8, 2.2 * len(shown)), sharex=True)
    axes_list = list(axes) if len(shown) > 1 else [axes]
    for ax, (mode, run) in zip(axes_list, shown, strict=True):
        pts = [(float(t), int(seq)) for seq, t, _ in run["arrivals"] if abs(float(t)) <= window_ms]
        if pts:
            ax.plot([t for t, _ in pts], [s for _, s in pts], ".", markersize=2.5)
        for step, at in sorted(run.get("steps_ms", {}).items(), key=lambda kv: kv[1]):
            if abs(float(at)) <= window_ms:
                ax.axvline(float(at), color="grey", linewidth=0.6, linestyle=":")
                ax.annotate(step, (float(at), 1.0), xycoords=("data", "axes fraction"),
                            rotation=90, fontsize=6, va="top", ha="right")  # fmt: skip
        ax.axvline(0.0, color="red", linewidth=0.8)
        ax.set_title(
            f"{mode}: lost {run['lost']}, interruption {float(run['interruption_ms']):.0f} ms",
            fontsize=8,
        )
        ax.set_ylabel("seq", fontsize=7)
        ax.tick_params(labelsize=7)
    axes_list[-1].set_xlabel("ms after the link-layer move (red)", fontsize=7)
    fig.suptitle(scenario, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def write_results(
    runs: Sequence[Run], outdir: Path, *, meta: Mapping[str, Any], steps: Sequence[str] = ()
) -> dict[str, Path]:
    """handover.json, handover.md and one PNG per scenario in ``outdir``; their paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = {"json": outdir / "handover.json", "table": outdir / "handover.md"}
    write_json(runs, written["json"], meta=meta)
    head = "".join(f"- {k}: {v}\n" for k, v in meta.items())
    written["table"].write_text(head + "\n" + markdown_table(runs, steps=steps))
    for scenario in sorted({str(r["scenario"]) for r in runs}):
        png = outdir / f"handover-{_slug(scenario)}.png"
        if plot_scenario(runs, scenario, png):
            written[scenario] = png
    return written

"""The sweep's heatmaps: delivered throughput and p99 latency over batch size x flush interval, one pair per load."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

__all__ = ["heatmaps"]


def _grid(rows: list[dict], load: float, batches: list[int], flushes: list[float], name: str) -> list[list[float]]:
    cell = {(r["max_batch_records"], r["flush_interval_s"]): r for r in rows if r["rate_per_s"] == load}
    out = []
    for b in batches:
        line = []
        for f in flushes:
            r = cell.get((b, f))
            v = None if r is None else r[name]
            line.append(math.nan if v is None else v)
        out.append(line)
    return out


def _label_ms(v: float) -> str:
    if math.isinf(v):
        return "not\nacked"
    return f"{v / 1000:.1f} s" if v >= 1000 else f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def heatmaps(rows: list[dict], rec: dict, out: Path, stem: str, args: argparse.Namespace) -> list[Path]:
    """One PNG per offered load: delivered rec/s as a share of the load, p99 latency (log colours), CPU per record.
    Cells that fell behind are hatched, p99 values over the latency budget get a '!', the recommended cell a box."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    out.mkdir(parents=True, exist_ok=True)
    batches = sorted({r["max_batch_records"] for r in rows if r["max_batch_records"] in args.batches})
    flushes = sorted({r["flush_interval_s"] for r in rows if r["flush_interval_s"] in args.flushes})
    paths = []
    for load in sorted({r["rate_per_s"] for r in rows}):
        share = [[v / load * 100 for v in line] for line in _grid(rows, load, batches, flushes, "delivered_per_s")]
        p99 = _grid(rows, load, batches, flushes, "latency_p99_ms")
        behind = _grid(rows, load, batches, flushes, "keeps_up_all")
        cpu = _grid(rows, load, batches, flushes, "cpu_us_per_record")
        fig, axes = plt.subplots(1, 3, figsize=(17, 0.9 * len(batches) + 2.2), constrained_layout=True)
        finite = [v for line in p99 for v in line if math.isfinite(v) and v > 0]
        lo, hi = (min(finite), max(finite)) if finite else (1, 10)
        shown_p99 = [[hi * 2 if math.isinf(v) else v for v in line] for line in p99]  # not acked: the top colour
        panels = (
            (axes[0], share, {"cmap": "viridis", "vmin": 0, "vmax": 100},
             "delivered, % of the offered load", lambda v: f"{v:.0f}%"),
            (axes[1], shown_p99, {"cmap": "magma_r", "norm": LogNorm(vmin=max(lo, 0.1), vmax=max(hi * 2, lo * 10))},
             f"p99 latency emit -> ack, ms (budget {args.latency_budget_ms:g})", None),
            (axes[2], cpu, {"cmap": "cividis_r"}, "pipeline CPU per record, us", lambda v: f"{v:.1f}"),
        )
        for ax, data, style, title, fmt in panels:
            im = ax.imshow(data, origin="lower", aspect="auto", **style)
            fig.colorbar(im, ax=ax, shrink=0.85)
            ax.set_xticks(range(len(flushes)), [f"{f:g}" for f in flushes])
            ax.set_yticks(range(len(batches)), [str(b) for b in batches])
            ax.set_xlabel("flush_interval_s")
            ax.set_ylabel("max_batch_records")
            ax.set_title(title, fontsize=10)
            for i in range(len(batches)):
                for j in range(len(flushes)):
                    v = data[i][j]
                    if math.isnan(v):
                        continue
                    over = fmt is None and (math.isinf(p99[i][j]) or p99[i][j] > args.latency_budget_ms)
                    text = fmt(v) if fmt else _label_ms(p99[i][j]) + (" !" if over else "")
                    # viridis is dark at the low end, magma_r and cividis_r at the high end
                    dark = (im.norm(v) < 0.6) if ax is axes[0] else (im.norm(v) > 0.6)
                    ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black",
                            fontweight="bold" if over else None)
                    if behind[i][j] == 0:  # falls behind the load: hatched
                        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="grey",
                                               linewidth=0))
            best: Any = rec.get(load)
            if best and best["max_batch_records"] in batches and best["flush_interval_s"] in flushes:
                i, j = batches.index(best["max_batch_records"]), flushes.index(best["flush_interval_s"])
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="cyan", linewidth=3))
        fig.suptitle(f"offered load {load:,.0f} rec/s, sink answers after {args.sink_latency_ms:g} ms  "
                     f"(hatched: falls behind; '!': p99 over budget; box: least CPU within budget)", fontsize=10)
        path = out / f"{stem}-{int(load)}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths

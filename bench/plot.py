#!/usr/bin/env python3
"""Draws the comparison chart from bench/compare's CSV: requests/s and p99 per test and server."""
import csv
import sys
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(csv_path: str, png_path: str) -> None:
    rows = [r for r in csv.DictReader(open(csv_path)) if r["tool"] == "wrk"] or list(
        csv.DictReader(open(csv_path))
    )
    tests = list(OrderedDict.fromkeys(r["test"] for r in rows))
    servers = list(OrderedDict.fromkeys(r["server"] for r in rows))
    value = {(r["server"], r["test"]): r for r in rows}
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(13, 8))
    width = 0.8 / max(len(servers), 1)
    base = "nginx" if "nginx" in servers else servers[-1]
    for i, s in enumerate(servers):
        xs = [t + i * width for t in range(len(tests))]
        rps = [float(value.get((s, t), {}).get("rps", 0)) for t in tests]
        ref = [float(value.get((base, t), {}).get("rps", 0)) or 1.0 for t in tests]
        rel = [r / b for r, b in zip(rps, ref)]
        p99 = [float(value.get((s, t), {}).get("p99_us", 0)) / 1000 for t in tests]
        bars = ax1.bar(xs, rel, width, label=s)
        for bar, r in zip(bars, rps):
            ax1.annotate(f"{r:.0f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                         ha="center", va="bottom", fontsize=7)
        ax2.bar(xs, p99, width, label=s)
    for ax in (ax1, ax2):
        ax.set_xticks([t + width * (len(servers) - 1) / 2 for t in range(len(tests))])
        ax.set_xticklabels(tests, rotation=12, fontsize=8)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(axis="y", alpha=0.3)
    ax1.set_ylabel(f"requests/s relative to {base}\n(absolute req/s on the bars)")
    ax1.axhline(1.0, color="grey", linewidth=0.8)
    ax1.set_title("boomerang vs nginx, same namespaces and pinning (wrk, 1 thread)")
    ax2.set_ylabel("p99 latency (ms)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    print(f"wrote {png_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

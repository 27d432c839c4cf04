#!/usr/bin/env python3
"""Draws bench/soak's chart from its CSV: RSS, the stack's tables, request rate and errors
over time, with the impaired periods shaded and the drain after the load marked."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(csv_path: str, png_path: str) -> None:
    rows = list(csv.DictReader(open(csv_path)))
    if not rows:
        raise SystemExit("soak-plot: no samples")
    mins = [float(r["elapsed_s"]) / 60 for r in rows]
    col = lambda name: [float(r[name]) for r in rows]  # noqa: E731
    fig, axes = plt.subplots(4, 1, figsize=(12, 13), sharex=True)
    ax_rss, ax_tab, ax_rate, ax_err = axes

    drain = next((m for m, r in zip(mins, rows) if r["state"] == "drain"), None)
    for ax in axes:
        for i in range(1, len(rows)):
            if rows[i]["impaired"] == "1" or rows[i - 1]["impaired"] == "1":
                ax.axvspan(mins[i - 1], mins[i], color="orange", alpha=0.12, lw=0)
        if drain is not None:
            ax.axvline(drain, color="grey", ls="--", lw=1)
        ax.grid(alpha=0.3)

    ax_rss.plot(mins, [v / 1024 for v in col("rss_kib")], marker=".", color="black", label="RSS")
    if "heap_allocated_kib" in rows[0] and any(col("heap_allocated_kib")):
        ax_rss.plot(mins, [v / 1024 for v in col("heap_resident_kib")], marker=".",
                    color="tab:blue", label="allocator resident")
        ax_rss.plot(mins, [v / 1024 for v in col("heap_allocated_kib")], marker=".",
                    color="tab:green", label="live heap")
        ax_rss.legend(loc="lower right")
    ax_rss.set_ylabel("server memory (MiB)")
    ax_rss.set_ylim(bottom=0)
    ax_rss.set_title(
        "boomerang soak (orange: loss/duplication on in the router; dashed: load stops, drain)"
    )

    for name, label in [
        ("tcp_connections", "TCP connections"),
        ("tcp_time_wait", "TIME-WAIT"),
        ("tcp_syn_received", "SYN-RECEIVED"),
        ("http_connections", "HTTP connections"),
        ("reassembly_datagrams", "reassembly"),
        ("blocking_queue", "blocking queue"),
    ]:
        ax_tab.plot(mins, col(name), marker=".", label=label)
    ax_tab.set_ylabel("table entries")
    ax_tab.set_yscale("symlog", linthresh=10)
    ax_tab.legend(loc="upper left", fontsize=8, ncol=3)

    ok = col("responses_2xx")
    t = col("elapsed_s")
    rate = [0.0] + [
        (ok[i] - ok[i - 1]) / max(t[i] - t[i - 1], 1e-9) for i in range(1, len(rows))
    ]
    ax_rate.plot(mins, rate, marker=".", color="tab:green")
    ax_rate.set_ylabel("2xx responses/s")
    ax_rate.set_ylim(bottom=0)

    for name, label in [
        ("failures", "unexpected (soak failures)"),
        ("responses_5xx", "5xx"),
        ("responses_4xx", "4xx (expected: refused bad requests, 404s)"),
        ("http_timeouts", "HTTP timeouts (slowloris)"),
        ("tcp_resets_sent", "RSTs sent"),
    ]:
        ax_err.plot(mins, col(name), marker=".", label=label)
    ax_err.set_ylabel("cumulative count")
    ax_err.set_yscale("symlog", linthresh=10)
    ax_err.set_xlabel("minutes")
    ax_err.legend(loc="upper left", fontsize=8)

    fig.tight_layout()
    fig.savefig(png_path, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""PNG charts for docs/benchmarks.md (matplotlib, in the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path


def scaling(result: dict, path: str) -> str:
    """Left: p95 per report over all data (log-x requests); right: store size on disk."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogFormatter, NullFormatter

    count = FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k")

    sizes, stores = result["sizes"], result["stores"]
    fig, (latency, size) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = [key.rsplit(" ", 1)[0] for key in stores[sizes[0]]["latency"] if key.endswith(" all")]
    for name in names:
        latency.plot(
            sizes,
            [stores[s]["latency"][f"{name} all"]["p95_ms"] for s in sizes],
            marker="o",
            label=name,
        )
    latency.axhline(100, color="grey", linestyle="--", linewidth=1, label="target 100 ms")
    latency.set_xscale("log")
    latency.set_yscale("log")
    latency.set_xlabel("stored requests")
    latency.set_ylabel("p95 ms (all data, 7 days)")
    latency.set_title("Report latency")
    latency.grid(True, which="both", alpha=0.3)
    latency.legend(fontsize=8)

    mib = [stores[s]["live_bytes"] / 2**20 for s in sizes]
    size.plot(sizes, mib, marker="o", color="tab:purple", label="size on disk (live)")
    size.set_xscale("log")
    size.set_yscale("log")
    size.set_xlabel("stored requests")
    size.set_ylabel("MiB")
    size.set_title("Store size")
    size.grid(True, which="both", alpha=0.3)
    for axis in (latency, size):
        # Plain numbers on the log y axes; minor ticks labelled when a decade is not in view.
        axis.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        axis.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
        axis.set_xticks(sizes)
        axis.xaxis.set_major_formatter(count)
        axis.xaxis.set_minor_formatter(NullFormatter())
    per = size.twinx()
    per.plot(
        sizes,
        [stores[s]["live_bytes"] / s for s in sizes],
        marker="s",
        linestyle=":",
        color="tab:green",
        label="bytes per request",
    )
    per.set_ylabel("bytes per request")
    per.set_ylim(bottom=0)
    lines = size.get_legend_handles_labels()
    extra = per.get_legend_handles_labels()
    size.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""W6's plot: time against host count per case (run with the bench venv's matplotlib).

    bench/.venv/bin/python bench/plot.py bench/.out/w6.json bench/w6.png
"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(data: str, out: str) -> None:
    series: dict[str, list[tuple[int, float]]] = {}
    for item in json.load(open(data)):
        series.setdefault(item["case"], []).append((item["hosts"],
                                                    statistics.median(item["values"])))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for case, points in series.items():
        points.sort()
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=case)
    axes.set_xlabel("hosts")
    axes.set_ylabel("median wall time (s)")
    axes.set_title("W6: time against host count")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

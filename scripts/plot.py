#!/usr/bin/env python3
"""Draws a plot job that `bwsim plot` prepared (JSON) with matplotlib.

bwsim reads and checks the data (columns, numbers, the GPU's roofs) and hands this script only
what to draw:
  {"kind": "line" | "scatter" | "bar" | "roofline", "title", "x_label", "y_label",
   "logx", "logy", "output",
   "series": [{"label", "x": [...], "y": [...], "names": [...]?}],   # x: numbers, or strings (categories)
   "roofs": [{"label", "tflops"}], "bandwidth_tb_s": number}          # roofline only
  validation: {"kind": "validation", "title", "output",
               "panels": [{"title", "unit", "series": [{"label", "x": measured, "y": predicted, "names"}]}]}
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

# A fixed hash salt keeps SVG element ids (and so the file) the same from run to run.
plt.rcParams["svg.hashsalt"] = "bwsim"


def categorical(series):
    return any(isinstance(v, str) for s in series for v in s["x"])


def draw_xy(ax, job):
    series = job["series"]
    if job["kind"] == "bar" or categorical(series):
        cats = []
        for s in series:
            for v in s["x"]:
                if v not in cats:
                    cats.append(v)
        width = 0.8 / max(1, len(series))
        for i, s in enumerate(series):
            pos = [cats.index(v) + (i - (len(series) - 1) / 2) * width for v in s["x"]]
            if job["kind"] == "bar":
                ax.bar(pos, s["y"], width=width, label=s["label"])
            else:
                ax.plot(pos, s["y"], marker="o", label=s["label"])
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels([str(c) for c in cats], rotation=30 if len(cats) > 6 else 0, ha="right" if len(cats) > 6 else "center")
        return
    for s in series:
        pairs = sorted(zip(s["x"], s["y"]))
        xs = [p[0] for p in pairs]
        ys = [p[1] for p in pairs]
        if job["kind"] == "scatter":
            ax.scatter(xs, ys, label=s["label"])
        else:
            ax.plot(xs, ys, marker="o", label=s["label"])


def draw_roofline(ax, job):
    bw = job["bandwidth_tb_s"]  # TB/s = TFLOP/s per FLOP/byte
    xs = [v for s in job["series"] for v in s["x"]] or [1.0]
    lo = min(xs) / 4
    hi = max(max(xs) * 4, max(r["tflops"] for r in job["roofs"]) / bw * 4)
    for r in job["roofs"]:
        ridge = r["tflops"] / bw
        ax.plot([lo, ridge, hi], [lo * bw, r["tflops"], r["tflops"]], linestyle="--", linewidth=1)
        ax.annotate(f'{r["label"]} {r["tflops"]:.0f} TFLOP/s', (hi, r["tflops"]), ha="right", va="bottom", fontsize=8)
    ax.annotate(f"HBM {bw:.2f} TB/s", (lo * 1.5, lo * 1.5 * bw), rotation=35, fontsize=8, va="bottom")
    for s in job["series"]:
        ax.scatter(s["x"], s["y"], label=s["label"], zorder=3)
        for x, y, name in zip(s["x"], s["y"], s.get("names", [])):
            ax.annotate(name, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")


def draw_validation(job):
    panels = job["panels"]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5), dpi=120, squeeze=False)
    colours = {}
    for ax, panel in zip(axes[0], panels):
        vals = [v for s in panel["series"] for v in s["x"] + s["y"]]
        lo, hi = min(vals) / 1.5, max(vals) * 1.5
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="predicted = measured")
        ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="grey", alpha=0.2, label="±10%")
        for s in panel["series"]:
            if s["label"] not in colours:
                colours[s["label"]] = f"C{len(colours) % 10}"
            ax.scatter(s["x"], s["y"], label=s["label"], color=colours[s["label"]], zorder=3, s=18)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f'measured ({panel["unit"]})')
        ax.set_ylabel(f'predicted ({panel["unit"]})')
        ax.set_title(panel["title"], fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(job["title"], fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(job["output"], metadata={"Date": None} if job["output"].endswith(".svg") else None)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: plot.py JOB.json")
    with open(sys.argv[1]) as f:
        job = json.load(f)
    if job["kind"] == "validation":
        draw_validation(job)
        return
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    if job["kind"] == "roofline":
        draw_roofline(ax, job)
    else:
        draw_xy(ax, job)
        if job.get("logx"):
            ax.set_xscale("log")
        if job.get("logy"):
            ax.set_yscale("log")
    ax.set_xlabel(job["x_label"])
    ax.set_ylabel(job["y_label"])
    ax.set_title(job["title"], fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if len(job["series"]) > 1 or job["kind"] == "roofline":
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(job["output"], metadata={"Date": None} if job["output"].endswith(".svg") else None)


if __name__ == "__main__":
    main()

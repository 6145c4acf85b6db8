"""What ``streamdeblur bench`` found: the result dataclasses (``as_dict()`` is the JSON),
the end-to-end side-by-side lines when several backends ran, and the bar chart."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..fileio import writing

PLOT_FORMATS = (".png", ".svg", ".pdf")


@dataclass
class StageFPS:
    """Frames per second of each stage measured alone, and of the whole pipeline."""

    decode: float | None  # None for synthetic input
    source: float
    pre: float
    infer: float
    post: float
    inference_stage: float  # pre + infer + post, the pipeline's inference thread
    encode: float
    end_to_end: float


@dataclass
class BenchResult:
    """One backend x model x resolution x batch."""

    backend: str
    device: str
    precision: str
    model: str
    weights: str  # a weights path, or "random init"
    width: int
    height: int
    batch: int
    frames: int  # measured frames per stage (warm-up excluded)
    warmup: int
    timing: str  # how inference was timed: "CUDA events" or "perf_counter"
    fps: StageFPS
    fps_median: dict[str, float]  # pre/infer/post from the median batch time instead of the fastest
    latency_ms: dict[str, float]  # p50, p99, mean, max
    efficiency: float
    slowest_stage: str
    host_peak_mib: float
    gpu_peak_mib: float | None
    requested: str = ""  # the --backend name asked for ("auto" or the backend itself)
    choice: str = ""  # the chooser's reason (what `run` prints): for auto, which backend and why
    max_tile: int | None = None
    #: OpenVINO's performance hint it was opened with (``auto``: latency at batch 1, throughput
    #: above); None for the other backends, which have none
    hint: str | None = None
    #: the end-to-end run's inference-thread busy time over its wall time: near 1, the model is
    #: the bottleneck (unlike ``efficiency`` it does not depend on load changing between stages)
    infer_busy_share: float | None = None

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["resolution"] = self.resolution
        return d


@dataclass
class BenchReport:
    machine: dict[str, Any]
    config: dict[str, Any]
    input: dict[str, Any]
    method: dict[str, str]
    results: list[BenchResult] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "config": self.config,
            "input": self.input,
            "method": self.method,
            "started": self.started,
            "seconds": round(self.seconds, 2),
            "results": [r.as_dict() for r in self.results],
        }


def backend_label(r: dict[str, Any]) -> str:
    """What ran, as the table, the side-by-side lines and the chart name it: "auto=openvino cpu
    bf16 (hint auto)", "torch cpu fp32": the backend asked for where it was ``auto``, the device,
    the precision, and OpenVINO's performance hint."""
    name = r.get("requested") or r["backend"]
    head = r["backend"] if name == r["backend"] else f"{name}={r['backend']}"
    hint = f" (hint {r['hint']})" if r.get("hint") else ""
    return f"{head} {r['device']} {r['precision']}{hint}"


def ratio_lines(report: BenchReport | dict[str, Any]) -> list[str]:
    """End-to-end FPS side by side, per model x size x batch, when several backends ran.

    The format: "MODEL WxH batch N: auto=openvino cpu bf16 (hint auto) A fps; onnxruntime cpu fp32 B fps
    (auto / onnxruntime A/B x)", each ratio the first backend listed over another.
    """
    data = report.as_dict() if isinstance(report, BenchReport) else report
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in data["results"]:
        groups.setdefault((r["model"], r["resolution"], r["batch"]), []).append(r)
    lines = []
    for (model, size, batch), rows in groups.items():
        if len(rows) < 2:
            continue
        figs = "; ".join(f"{backend_label(r)} {r['fps']['end_to_end']:.2f} fps" for r in rows)
        first = rows[0]
        ratios = ", ".join(
            f"{(first.get('requested') or first['backend'])} / {(r.get('requested') or r['backend'])} "
            f"{first['fps']['end_to_end'] / r['fps']['end_to_end']:.2f}x"
            for r in rows[1:] if r["fps"]["end_to_end"] > 0
        )  # fmt: skip
        lines.append(f"{model} {size} batch {batch}: {figs} ({ratios})")
    return lines


def check_plot_path(path: str | os.PathLike) -> None:
    """Refuse a chart that cannot be drawn (no matplotlib, or a name without an image
    format) before any measuring starts."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            "--plot needs matplotlib, which is not installed", "pip install 'streamdeblur[plot]'"
        ) from None
    out = Path(path)
    if out.suffix.lower() not in PLOT_FORMATS:
        raise InputError(f"cannot tell the image format from {out.name!r}", "end it with .png, .svg or .pdf")


def plot_report(report: BenchReport | dict[str, Any], path: str | os.PathLike) -> Path:
    """A bar chart of each result's stage FPS and end-to-end FPS (log scale), written
    through a temporary file and a rename. Needs matplotlib (the 'plot' extra)."""
    check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = report.as_dict() if isinstance(report, BenchReport) else report
    results = data["results"]
    if not results:
        raise InputError("nothing to plot: the benchmark has no results")
    out = Path(path)
    stages = [
        ("decode", "decode"),
        ("pre", "pre"),
        ("infer", "infer"),
        ("post", "post"),
        ("encode", "encode"),
        ("end_to_end", "end to end"),
    ]
    if all(r["fps"]["decode"] is None for r in results):
        stages = stages[1:]  # synthetic input: nothing was decoded
    labels = [f"{backend_label(r)}\n{r['model']}\n{r['resolution']} b{r['batch']}" for r in results]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(results) + 3), 5.0))
    width = 0.8 / len(stages)
    xs = np.arange(len(results))
    for si, (key, name) in enumerate(stages):
        vals = [
            r["fps"][key] if r["fps"][key] is not None else float("nan") for r in results
        ]  # no decode bar for synthetic input
        ax.bar(xs + (si - (len(stages) - 1) / 2) * width, vals, width, label=name)
    e2e_x = xs + (len(stages) - 1) / 2 * width
    for x, r in zip(e2e_x, results):
        ax.annotate(
            f"{r['fps']['end_to_end']:.3g} fps\neff {r['efficiency']:.2f}",
            (x, r["fps"]["end_to_end"]),
            ha="center",
            va="bottom",
            fontsize=7,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_yscale("log")
    ax.set_ylabel("frames per second (log)")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=7)
    m = data.get("machine", {})
    gpus = ", ".join(g["name"] for g in m.get("gpus", [])) or "no GPU"
    ax.set_title(f"streamdeblur bench: {m.get('cpu', '?')} ({m.get('cpu_cores', '?')} cores), {gpus}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    try:
        with writing(out, replace=True) as tmp:
            fig.savefig(tmp, dpi=120, format=out.suffix[1:].lower())
    finally:
        plt.close(fig)
    return out

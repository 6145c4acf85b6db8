"""`streamdeblur run` with several inputs, folders, --cluster or --segments: the progress
view, a line per input and the summary table. The work is
:func:`streamdeblur.batch.deblur_many`; this is only what the user sees."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .common import StatusLine, clock, say

if TYPE_CHECKING:
    from ..api import RunOptions
    from ..batch import BatchOptions
    from ..batch.reports import BatchProgress, BatchResult, BatchStart, ItemReport


class BatchView:
    """One progress line (files done, frames, FPS, ETA) rewritten on a terminal, or a
    plain line every few seconds otherwise; a line per finished input."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.line = StatusLine()
        self.mode = "this process"

    def start(self, s: BatchStart) -> None:
        self.mode = s.mode
        if self.quiet:
            return
        if s.mode == "this process":
            where = "in this process"
        else:
            each = "1 GPU each" if s.gpus_each else f"{s.cpus_each} CPU each"
            where = f"on {s.mode}, {s.planned} worker{'s' if s.planned != 1 else ''} ({each})"
        say(f"deblurring {where}: {s.worker.describe or s.worker.backend}")

    def progress(self, p: BatchProgress) -> None:
        if self.quiet:
            return
        if not self.line.due():
            return
        extra = ", ".join(
            x for x in (f"{p.failed} failed" if p.failed else "", f"{p.skipped} skipped" if p.skipped else "") if x
        )
        total = f"/{p.frames_total}" if p.frames_total else ""
        files = f"files {p.finished}/{p.files}{f' ({extra})' if extra else ''}"
        self.line.show(
            f"{files}  frames {p.frames_done}{total}  {p.fps:6.2f} fps  ETA {clock(p.eta)}  [{p.running} running]"
        )

    def item(self, it: ItemReport) -> None:
        if self.quiet and it.status != "failed":
            return
        self.line.clear()
        if it.status == "done":
            parts = f", {it.segments} part{'s' if it.segments != 1 else ''}" if it.segments else ""
            how = f"{it.fps:.2f} fps, {it.backend} on {it.device}{parts}"
            frames = f"{it.frames} frame{'s' if it.frames != 1 else ''}"
            say(f"done    {it.input} -> {it.output}: {frames} in {it.seconds:.1f} s ({how})")
        elif it.status == "skipped":
            say(f"skipped {it.input}: {it.note or 'its output is complete'}")
        elif it.status == "failed":
            say(f"failed  {it.input}: {it.error}")
        else:
            say(f"{it.status} {it.input}: {it.error}")
        if not self.quiet:
            for w in it.warnings:
                say(f"warning: {it.input}: {w}")
        self.line.last = 0.0

    def end(self) -> None:
        self.line.clear()


def _table(result: BatchResult) -> str:
    rows = [("input", "status", "frames", "seconds", "fps", "backend", "error")]
    for it in result.items:
        err = it.error or ""  # whole: cut, it lost the fix ("... pass --o...")
        be = f"{it.backend}/{it.device}" if it.backend and it.status == "done" else "-"
        rows.append(
            (
                it.input,
                it.status,
                str(it.frames),
                f"{it.seconds:.1f}",
                f"{it.fps:.2f}" if it.status == "done" else "-",
                be,
                err,
            )
        )
    widths = [max(len(r[k]) for r in rows) for k in range(6)]
    right = {2, 3, 4}
    out = []
    for r in rows:
        cells = [r[k].rjust(widths[k]) if k in right else r[k].ljust(widths[k]) for k in range(6)]
        out.append(("  ".join(cells) + "  " + r[6]).rstrip())
    return "\n".join(out)


def run_many(inputs: list[str], output: str, options: RunOptions, batch_options: BatchOptions, *, quiet: bool) -> None:
    """Deblur many inputs (or one in segments / on a cluster); exit 1 if any failed, 128+signal if stopped."""
    from ..batch import deblur_many

    view = BatchView(quiet)
    report = batch_options.report
    try:
        result = deblur_many(
            inputs, output, options, batch_options, on_progress=view.progress, on_item=view.item, on_start=view.start
        )
    finally:
        view.end()
    n = len(result.items)
    done, skipped, failed = result.count("done"), result.count("skipped"), result.count("failed")
    if not quiet:
        typer.echo(_table(result))
        extra = ", ".join(
            x
            for x in (
                f"{skipped} skipped" if skipped else "",
                f"{failed} failed" if failed else "",
                f"{n - done - skipped - failed} not finished" if result.cancelled else "",
            )
            if x
        )
        workers = len(result.workers)
        fps = result.deblurred / result.seconds if result.seconds > 0 else 0
        kept = result.frames - result.deblurred
        typer.echo(
            f"done: {done + skipped} of {n} inputs{f' ({extra})' if extra else ''}, {result.frames} frames"
            f"{f' ({kept} of them from kept parts)' if kept else ''} in "
            f"{result.seconds:.1f} s ({fps:.2f} fps) on {workers} worker{'s' if workers != 1 else ''} ({result.mode})"
        )
    if report and not quiet:
        say(f"report: {report}")
    if result.cancelled:
        where = " in the report" if report else ""
        say(f"stopped: {done + skipped} of {n} inputs finished; the rest are marked cancelled{where}")
        raise typer.Exit(code=128 + result.signum)
    if failed:
        raise typer.Exit(code=1)

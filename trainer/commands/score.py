"""``streamdeblur-train eval``, ``pool-eval``, ``video-psnr`` and ``side-by-side``: scoring
generators (``export``, shipping one, is :mod:`trainer.commands.export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from streamdeblur.fileio import check_writable

from .common import Device, Kind, app, finite, report, set_threads, user_errors, write_json


@app.command("eval")
@user_errors
def eval_cmd(
    root: Annotated[Path, typer.Argument(help="GoPro-layout dataset root.")],
    weights: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--weights", "-w", help="A training checkpoint (.pt) or exported generator (.safetensors); repeatable."
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            help="Which split to score: test, or train for a panel with nothing held out in it (train pairs,"
            " training photos, clips made like the samples from training photos), to compare recipes without"
            " touching the test split."
        ),
    ] = "test",
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="Score at most N frames (an even spread).")] = None,
    json_out: Annotated[
        Optional[Path],
        typer.Option(
            "--json",
            help="Also write the results here, with every frame's PSNR per method and each model's pass-through"
            " PSNR (default: the tables only; nothing is written into the dataset).",
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help="auto (CUDA where there is a GPU), cpu or cuda.")] = Device.auto,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads for PyTorch.")] = None,
    panel: Annotated[
        bool,
        typer.Option(
            "--panel/--no-panel",
            help="Also the robustness panel: the pairs resized, compressed, noisy, brighter and darker; synthetic"
            " mild/medium/strong blur on the held-out photos; the sample clips. One row per condition; each"
            " generator's worst row.",
        ),
    ] = True,
    samples: Annotated[
        Path, typer.Option(help="With --panel: a folder of NAME.mp4 + NAME_sharp.mp4 clips scored as rows.")
    ] = Path("samples"),
    clip_stride: Annotated[int, typer.Option(min=1, help="With --panel: score every Nth frame of the clips.")] = 4,
    goals: Annotated[
        Optional[Path],
        typer.Option(
            help="With --panel: a JSON file {condition: goal dB}; each generator's gain minus each row's goal, and"
            " its worst margin (e.g. docs/eval/goals-issue24.json).",
        ),
    ] = None,
    synthetic: Annotated[
        bool,
        typer.Option(
            "--synthetic/--no-synthetic",
            help="With --panel: the mild/medium/strong synthetic rows (held-out photos; skipped with a note where none"
            " is installed).",
        ),
    ] = True,
) -> None:
    """PSNR / SSIM per blur kind: the blurry input, unsharp masking and each generator; then the robustness panel.

    PSNR on 8-bit RGB; SSIM as scikit-image (Gaussian sigma 1.5, data range 255). Also
    PSNR(model(sharp), sharp) (does the model leave sharp frames alone?) and the mean
    per-channel colour shift of the output against the sharp frame. The panel (trainer/panel.py)
    gives each generator's gain over the blurry input per condition and its worst row, the
    figure a model is chosen by.

    Example:  streamdeblur-train eval GOPRO_Large -w runs/lite/last.pt -w
    streamdeblur/weights/deblurgan-lite.safetensors
    """
    from ..config import pick_device
    from ..evaluate import evaluate, format_table
    from ..panel import format_panel, goal_margins, read_goals
    from ..panel import panel as run_panel

    goal_table = read_goals(goals) if goals is not None else None
    if json_out is not None:
        check_writable(json_out, "--json", kind="json")
    set_threads(threads)
    dev = pick_device(device.value)
    ws = [str(w) for w in weights or []]
    result = evaluate(root, ws, split=split, max_frames=max_frames, device=dev)
    typer.echo(format_table(result))
    if panel and ws:
        result["panel"] = run_panel(
            root,
            ws,
            split=split,
            samples=samples if samples.is_dir() else None,
            clip_stride=clip_stride,
            photos=synthetic,
            max_frames=max_frames,
            device=dev,
        )
        if goal_table is not None:
            result["panel"]["goals"] = goal_margins(result["panel"], goal_table)
        typer.echo("")
        typer.echo(format_panel(result["panel"]))
    if json_out is not None:
        write_json(json_out, result)


@app.command("decide")
@user_errors
def decide_cmd(
    panel_json: Annotated[
        Path, typer.Argument(metavar="EVAL.json", help="One eval run (`eval --goals ... --json`).", show_default=False)
    ],
    shipped: Annotated[str, typer.Option(help="The shipped generator's column (its label or file name).")],
    candidate: Annotated[str, typer.Option(help="The candidate's column.")],
    margin_step: Annotated[
        float, typer.Option(callback=finite, help="A worst-margin rise that ships on its own (dB).")
    ] = 0.05,
    max_drop: Annotated[float, typer.Option(callback=finite, help="The most any row may fall (dB).")] = 0.5,
    min_pass_through: Annotated[
        float, typer.Option(callback=finite, help="Sharp frames through it at least (dB).")
    ] = 35.0,
    max_colour: Annotated[float, typer.Option(callback=finite, help="Colour shift under (levels).")] = 1.0,
) -> None:
    """Apply the selection rule to a candidate and the shipped generator scored in one eval run.

    Prints every row of both and the difference, then what decides: the worst margin over the goals
    (higher by --margin-step or more ships; higher by less, the plain worst row must not be lower),
    the largest fall of a row, and the pass-through. Exit code 0: it ships; 1: it does not.

    Example:  streamdeblur-train decide docs/eval/panel-stage34-vs-28-vs-8.json --shipped stage28.safetensors
    --candidate stage34.safetensors
    """
    from ..decide import Rule, decide, format_decision, read_panel

    rule = Rule(margin_step=margin_step, max_drop=max_drop, min_pass_through=min_pass_through, max_colour=max_colour)
    d = decide(read_panel(panel_json), shipped, candidate, rule)
    typer.echo(format_decision(d))
    if not d.ships:
        raise typer.Exit(1)


@app.command("pool-eval")
@user_errors
def pool_eval(
    evals: Annotated[
        list[str],
        typer.Argument(
            metavar="EVAL.json[@LABEL]...",
            help="Eval JSONs (`eval --json`); @LABEL names the generator where a file scored more than one.",
            show_default=False,
        ),
    ],
    kind: Annotated[Kind, typer.Option(help="Blur kind to pool.")] = Kind.gopro,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the pooled result here.")] = None,
) -> None:
    """One generator's gain pooled over several eval results, as if they were one test set.

    Prints each set's gain over the blurry input on the chosen kind of frame and the pooled
    gain over all their frames (a mean of per-frame gains), with the pass-through PSNR
    (model(sharp) against sharp) pooled over every frame and its worst frame.

    Example:  streamdeblur-train pool-eval docs/eval/eval-deblurgan-lite-stage7.json
    docs/eval/eval-deblurgan-lite-seed6.json@runs/lite-v11/last.pt
    """
    from ..pool import format_pool, pool_files

    if json_out is not None:
        check_writable(json_out, "--json", kind="json")
    result = pool_files(evals, kind=kind.value)
    report(format_pool(result), result, json_out)


@app.command("video-psnr")
@user_errors
def video_psnr(
    sharp: Annotated[Path, typer.Argument(help="The sharp reference video.", show_default=False)],
    videos: Annotated[
        list[Path],
        typer.Argument(
            metavar="VIDEO...",
            help="Videos to score against it (same length and size), e.g. the blurry input, then the deblurred output.",
            show_default=False,
        ),
    ],
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write every frame's PSNR here.")] = None,
) -> None:
    """Frame-by-frame PSNR of videos against a sharp reference (8-bit RGB; identical frames count 99 dB).

    Prints each video's mean PSNR and, with two or more, how many frames the last improves
    over the first.

    Example:  streamdeblur-train video-psnr samples/mountains_sharp.mp4 samples/mountains.mp4 out.mp4
    """
    from ..video_score import format_video_psnr
    from ..video_score import video_psnr as score

    if json_out is not None:
        check_writable(json_out, "--json", kind="json")
    result = score(sharp, videos)
    report(format_video_psnr(result), result, json_out)


@app.command("side-by-side")
@user_errors
def side_by_side(
    root: Annotated[
        Path,
        typer.Argument(
            help="GoPro-layout set whose test/ split is shown (real recordings, or a synthetic set's GoPro-style"
            " frames), or a video clip (NAME_sharp beside it, if any, gives the PSNR).",
        ),
    ],
    weights: Annotated[
        Optional[Path],
        typer.Option("--weights", "-w", help="Exported generator (.safetensors; default: the shipped deblurgan-lite)."),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="Image to write (.png, .jpg; default: sidebyside.png, or NAME-side-by-side.jpg for a clip).",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
    crop: Annotated[int, typer.Option(min=32, help="Panel size in pixels (a set).")] = 256,
    frame: Annotated[
        Optional[int], typer.Option(min=0, help="The clip's frame to show (default: the middle one).")
    ] = None,
) -> None:
    """Blurry | deblurred | sharp crops of two test frames: the one the model improves most and a median one;
    or, for a clip, one frame blurry | deblurred, whole and its most detailed region enlarged.

    Each panel is labelled with its whole-frame PSNR; the crop is the frame's most detailed region.

    Example:  streamdeblur-train side-by-side GOPRO_Large --out docs/sidebyside.png

    Example:  streamdeblur-train side-by-side samples/mountains.mp4   (writes mountains-side-by-side.jpg)
    """
    from streamdeblur.errors import OutputError

    from ..side_by_side import clip_side_by_side
    from ..side_by_side import side_by_side as draw

    if out is None:
        out = Path(f"{root.stem}-side-by-side.jpg" if root.is_file() else "sidebyside.png")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists", "pass --overwrite to replace it, or --out another name")
    check_writable(out, "--out", "sidebyside.png", kind="picture", not_these=[root])
    if root.is_file():
        s = clip_side_by_side(root, weights, out, frame=frame, replace=overwrite)
        if "psnr_blurry" in s:
            typer.echo(
                f"{root} frame {s['frame']}: blurry {s['psnr_blurry']:.2f} dB -> deblurred {s['psnr_deblurred']:.2f} dB"
            )
    else:
        for s in draw(root, weights, out, crop=crop, replace=overwrite):
            typer.echo(
                f"{s['kind']}: {s['sequence']}/{s['frame']}: blurry {s['psnr_blurry']:.2f} dB"
                f" -> deblurred {s['psnr_deblurred']:.2f} dB (whole frame)"
            )
    typer.echo(f"wrote {out}")

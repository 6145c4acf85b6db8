"""``streamdeblur-train make-data`` and ``calibrate``: the training set and its blur strength."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from streamdeblur.fileio import check_writable
from streamdeblur.sizes import parse_size

from .common import app, float_pair, progress_bar, user_errors, write_json


@app.command("make-data")
@user_errors
def make_data(
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset root to write (GoPro layout).")],
    size: Annotated[str, typer.Option(help="Frame size WxH.")] = "512x384",
    train_frames: Annotated[
        int, typer.Option(min=1, help="Frames per training sequence (one per photo and blur kind).")
    ] = 8,
    test_frames: Annotated[int, typer.Option(min=1, help="Frames per test sequence (held-out photos).")] = 4,
    kinds: Annotated[
        str, typer.Option(help="Blur kinds, comma separated: gopro (averaged frames), traj (trajectory PSF).")
    ] = "gopro,traj",
    photos: Annotated[
        Optional[Path], typer.Option(help="An extra folder of your own sharp photos (training split).")
    ] = None,
    package: Annotated[
        Optional[list[str]],
        typer.Option(
            "--package", help="Use only these photo packages (repeatable; 'none' with --photos: only your photos)."
        ),
    ] = None,
    allow_missing: Annotated[
        bool, typer.Option(help="Skip photo packages that are not installed instead of failing.")
    ] = False,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: the same seed writes the same set.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Write into a non-empty --out, replacing the set there (its train/, test/, info.json).")
    ] = False,
) -> None:
    """Write a synthetic blur/sharp set in the GoPro layout from the photographs of Debian/Ubuntu wallpaper and
    test-image packages (trainer/photos.py lists them).

    ROOT/{train,test}/<kind>_<photo>/{blur,sharp}/NNNNNN.png, kind gopro or traj; the test
    split's photos are never used for training. Some blurry frames get sensor noise and JPEG.
    A missing photo package is an error naming the apt-get install that fixes it.

    Example:  streamdeblur-train make-data --out data/synth --size 512x384
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from ..make_data import MakeDataConfig, make_dataset

    cfg = MakeDataConfig(
        out=str(out),
        size=parse_size(size, "--size", example="512x384"),
        train_frames=train_frames,
        test_frames=test_frames,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
        seed=seed,
        packages=tuple(package) if package else None,
        photos_dir=str(photos) if photos else None,
        allow_missing=allow_missing,
        overwrite=overwrite,
    )
    with progress_bar(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("make-data", total=None)

        def progress(i: int, n: int, what: str) -> None:
            bar.update(task, completed=i, total=n, description=what)

        info = make_dataset(cfg, progress)
    n_train = sum(p["split"] == "train" for p in info["photos"])
    n_test = len(info["photos"]) - n_train
    typer.echo(
        f"wrote {info['frames']['train']} training and {info['frames']['test']} test pairs "
        f"({size}, kinds {','.join(cfg.kinds)}) "
        f"from {n_train} training and {n_test} held-out photos to {out}"
    )
    if info.get("skipped"):
        typer.echo(f"skipped (photo too small for {size}): {', '.join(info['skipped'])}")


@app.command()
@user_errors
def calibrate(
    root: Annotated[Path, typer.Argument(help="GoPro-layout set of real pairs, e.g. GOPRO_Large.")],
    motion: Annotated[
        Optional[list[str]],
        typer.Option("--motion", help="A synthetic camera-speed range LO,HI to compare (repeatable)."),
    ] = None,
    crop: Annotated[int, typer.Option(min=16, help="Crop size: the scale the model trains at.")] = 256,
    samples: Annotated[int, typer.Option(min=1, help="Crops per source.")] = 96,
    split: Annotated[
        str, typer.Option(help="Which split of ROOT to measure (never the test split for tuning).")
    ] = "train",
    object_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of synthetic pairs with moving objects.")
    ] = 0.0,
    continuous_blur: Annotated[
        bool, typer.Option(help="Integrate motion within sub-frames (as `train --continuous-blur`).")
    ] = True,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write every crop's figures here.")] = None,
    plot: Annotated[
        Optional[Path], typer.Option(help="Histograms of real vs synthetic blur (PNG; needs matplotlib).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
) -> None:
    """Blur strength of real pairs vs synthetic GoPro-style pairs: PSNR and blur extent per crop.

    Example:  streamdeblur-train calibrate GOPRO_Large --motion 0.3,1.5 --motion 2,6 --plot calib.png
    """
    from .. import calibrate as C

    motions = [float_pair(m, "--motion") for m in (motion or ["0.3,1.5", "2,6"])]
    for lo, hi in motions:  # as train checks its own --motion
        if not 0 <= lo <= hi:
            raise typer.BadParameter(f"--motion must be LO,HI with 0 <= LO <= HI, got {lo:g},{hi:g} (e.g. 0.5,3)")
    for path, option, kind in ((json_out, "--json", "json"), (plot, "--plot", "picture")):  # before the work
        if path is not None:
            check_writable(path, option, kind=kind)
    result = C.calibrate(
        root,
        motions,
        crop=crop,
        samples=samples,
        split=split,
        object_fraction=object_fraction,
        continuous=continuous_blur,
        seed=seed,
    )
    typer.echo(f"{samples} crops of {crop}x{crop} per source")
    typer.echo(f"{'source':<52}{'PSNR mean':>10}{'p10':>7}{'p50':>7}{'p90':>7}{'sigma mean':>12}{'p50':>7}")
    for row in result["rows"]:
        p, g = row["psnr"], row["sigma"]
        typer.echo(
            f"{row['source']:<52}{p['mean']:>10.2f}{p['p10']:>7.2f}{p['p50']:>7.2f}{p['p90']:>7.2f}{g['mean']:>12.2f}{g['p50']:>7.2f}"
        )
    if json_out:
        write_json(json_out, result, indent=1)
    if plot:
        C.plot(result, plot)
        typer.echo(f"wrote {plot}")

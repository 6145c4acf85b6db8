"""``streamdeblur-train export``: a training checkpoint's generator as the runtime's
``NAME.safetensors`` + ``NAME.json`` (:func:`trainer.checkpoint.export_checkpoint`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import app, user_errors

HALF_HELP = (
    "Store the weights as float16: half the file, loaded back as float32 (outputs within 1 level of the float32 file)."
)


@app.command()
@user_errors
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A training checkpoint (RUN/best.pt or RUN/last.pt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="NAME or NAME.safetensors; NAME.json is written beside it.")],
    metrics: Annotated[
        Optional[Path], typer.Option(help="An eval JSON whose numbers for this checkpoint go into the card.")
    ] = None,
    half: Annotated[bool, typer.Option("--half", help=HALF_HELP)] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace NAME.safetensors / NAME.json if they exist.")] = False,
) -> None:
    """Write a checkpoint's generator as NAME.safetensors + NAME.json for the runtime.

    The card holds arch, args, what it was trained on and its metrics; load it with
    streamdeblur.models.load_generator(PATH) or `streamdeblur run --weights PATH`.

    Example:  streamdeblur-train export runs/lite/best.pt -o runs/lite/deblurgan-lite
    """
    from ..checkpoint import export_checkpoint

    w, card = export_checkpoint(checkpoint, out, metrics_json=metrics, half=half, overwrite=overwrite)
    typer.echo(f"wrote {w} and {card}")


@app.command()
@user_errors
def average(
    weights: Annotated[
        list[Path], typer.Argument(help="Two exported generators or more (.safetensors), one architecture.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="NAME or NAME.safetensors; NAME.json is written beside it.")],
    metrics: Annotated[
        Optional[Path],
        typer.Option(help="An eval JSON with a column for NAME.safetensors: its numbers go into the card."),
    ] = None,
    half: Annotated[bool, typer.Option("--half", help=HALF_HELP)] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace NAME.safetensors / NAME.json if they exist.")] = False,
) -> None:
    """Write the element-wise mean of generators of one architecture (fine-tunes of one another: a
    "model soup"), its card naming each one that went in.

    Example:  streamdeblur-train average runs/a/g.safetensors runs/b/g.safetensors -o runs/soup/g
    """
    from ..checkpoint import average_generators

    w, card = average_generators(weights, out, metrics_json=metrics, half=half, overwrite=overwrite)
    typer.echo(f"wrote {w} and {card} (the mean of {len(weights)} generators)")

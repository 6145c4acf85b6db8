"""`streamdeblur models`: the registered generators, their size and cost."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .common import app, user_errors


@app.command("models")
@user_errors
def models_cmd(
    size: Annotated[
        list[str], typer.Option("--size", help="Frame size WxH to count multiply-accumulates at (repeatable).")
    ] = ["256x256", "1280x720"],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the generator architectures: parameters, GMACs per frame, and shipped weights.

    Example: streamdeblur models --size 1920x1080
    """
    from ..models import DEFAULT_MODEL, MODELS, build_model, count_macs, count_params, read_card, shipped_weights
    from ..sizes import parse_size

    sizes = [parse_size(s, "--size") for s in size]
    rows = []
    for name in MODELS:
        shipped = shipped_weights(name)
        # the figures of what `run` runs: the shipped generator's own arguments where there is one
        args = read_card(shipped.with_suffix(".json")).get("args", {}) if shipped.exists() else {}
        model = build_model(name, **args)
        rows.append(
            {
                "model": name,
                "default": name == DEFAULT_MODEL,
                "args": model.arch_args,
                "params": count_params(model),
                "gmacs": {f"{w}x{h}": round(count_macs(model, h, w) / 1e9, 2) for w, h in sizes},
                "shipped_weights": str(shipped) if shipped.exists() else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        macs = ", ".join(f"{v} GMACs at {k}" for k, v in r["gmacs"].items())
        mark = " (default)" if r["default"] else ""
        weights = "shipped weights" if r["shipped_weights"] else "no shipped weights"
        typer.echo(f"{r['model']}{mark}: {r['params'] / 1e6:.2f} M parameters; {macs}; {weights}")

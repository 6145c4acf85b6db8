"""Pooling eval results over several test sets (the model card's pooled figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import TINY_LITE, perturbed
from typer.testing import CliRunner

from streamdeblur.models import save_generator
from trainer.cli import app
from trainer.evaluate import evaluate
from trainer.pool import pool

runner = CliRunner()


def _generator(tmp_path: Path, name: str, seed: int) -> str:
    """A tiny lite generator moved off the identity, so it changes frames (and sharp ones too)."""
    w, _ = save_generator(perturbed("deblurgan-lite", seed, **TINY_LITE), tmp_path / name)
    return str(w)


@pytest.fixture(scope="module")
def two_sets(tiny_gopro: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    tmp = tmp_path_factory.mktemp("pool")
    a, b = _generator(tmp, "a", 1), _generator(tmp, "b", 2)
    full = evaluate(tiny_gopro, [a, b])  # two generators scored: pooling must be told which
    part = evaluate(tiny_gopro, [a], max_frames=4)  # a smaller set: it must weigh less
    return full, part


def test_pooled_gain_weighs_every_frame_once(two_sets: tuple[dict, dict]) -> None:
    full, part = two_sets
    r = pool([(full, "a.safetensors"), (part, None)], kind="gopro")
    n_full, n_part = full["results"]["input"]["gopro"]["n"], part["results"]["input"]["gopro"]["n"]
    assert r["frames"] == n_full + n_part

    def gain(ev: dict) -> float:
        return ev["results"]["a.safetensors"]["gopro"]["psnr"] - ev["results"]["input"]["gopro"]["psnr"]

    assert r["gain"] == pytest.approx((gain(full) * n_full + gain(part) * n_part) / (n_full + n_part))
    assert [s["gain"] for s in r["sets"]] == [pytest.approx(gain(full)), pytest.approx(gain(part))]
    assert r["gain"] != 0.0  # the generators really changed the frames
    # pass-through: pooled over every frame of both sets, and its worst frame no better than the mean
    n_all = full["frames"] + part["frames"]
    through = (
        full["results"]["a.safetensors"]["all"]["psnr_on_sharp"] * full["frames"]
        + part["results"]["a.safetensors"]["all"]["psnr_on_sharp"] * part["frames"]
    ) / n_all
    assert r["pass_through"] == pytest.approx(through)
    assert r["pass_through_worst"] <= r["pass_through"]


def test_the_generator_must_be_named_where_a_set_scored_several(two_sets: tuple[dict, dict]) -> None:
    full, _ = two_sets
    with pytest.raises(ValueError, match=r"name the generator.*a\.safetensors.*b\.safetensors"):
        pool([(full, None)])
    with pytest.raises(ValueError, match="no generator 'c.safetensors'"):
        pool([(full, "c.safetensors")])


def test_pool_eval_prints_each_set_and_the_pool(two_sets: tuple[dict, dict], tmp_path: Path) -> None:
    full, part = two_sets
    (tmp_path / "full.json").write_text(json.dumps(full))
    (tmp_path / "part.json").write_text(json.dumps(part))
    r = runner.invoke(
        app,
        [
            "pool-eval",
            f"{tmp_path / 'full.json'}@b.safetensors",
            str(tmp_path / "part.json"),
            "--json",
            str(tmp_path / "pool.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "pool.json").read_text())
    assert [s["label"] for s in saved["sets"]] == ["b.safetensors", "a.safetensors"]
    assert saved == pool([(full, "b.safetensors"), (part, None)])
    lines = r.stdout.splitlines()
    assert f"gain {saved['gain']:+.2f} dB" in lines[-2] and lines[-1] == f"wrote {tmp_path / 'pool.json'}"
    # the same file without a label is ambiguous: one line naming the choices
    r = runner.invoke(app, ["pool-eval", str(tmp_path / "full.json")])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("streamdeblur-train: error:") and "name the generator" in r.stderr
    # a file that is not an eval result, and one that is not there
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    r = runner.invoke(app, ["pool-eval", str(tmp_path / "other.json")])
    assert r.exit_code == 2 and "not a `streamdeblur-train eval` JSON" in r.stderr
    r = runner.invoke(app, ["pool-eval", str(tmp_path / "missing.json")])
    assert r.exit_code != 0 and "eval JSON not found" in r.stderr
    # --kind takes only the kinds an eval reports
    assert runner.invoke(app, ["pool-eval", str(tmp_path / "part.json"), "--kind", "blurry"]).exit_code == 2

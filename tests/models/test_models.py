from __future__ import annotations

import json

import pytest
import torch
from testkit import TINY_LITE, perturbed

from streamdeblur.errors import ModelNotFoundError, WeightsError
from streamdeblur.models import (
    MODELS,
    build_model,
    count_macs,
    count_params,
    load_generator,
    save_generator,
    shipped_weights,
)

# Small configurations of every registered architecture keep the test fast on 2 cores;
# the full-size ones are checked for their parameter counts below.
TINY = {
    "deblurgan": {"base_channels": 8, "n_blocks": 2},
    "deblurgan-lite": TINY_LITE,
}


def test_every_model_has_a_tiny_config():
    assert set(TINY) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("hw", [(32, 32), (37, 53), (1, 1), (8, 3)])
def test_shape_range_and_determinism(name, hw):
    model = perturbed(name, **TINY[name])  # identity-initialised models would pass trivially
    x = torch.rand(2, 3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y1 = model(x)
        y2 = model(x)
    assert y1.shape == x.shape
    assert torch.isfinite(y1).all()
    assert y1.min() >= 0 and y1.max() <= 1
    assert torch.equal(y1, y2)


def test_deblurgan_matches_the_paper():
    model = build_model("deblurgan")
    params = count_params(model)
    macs = count_macs(model, 256, 256)
    assert 11.0e6 < params < 11.8e6
    assert 45e9 < macs < 55e9
    # two convolutions in every ResBlock (the reference code's slip leaves one)
    res_blocks = [m for m in model.modules() if m.__class__.__name__ == "ResBlock"]
    assert len(res_blocks) == 9
    assert all(sum(isinstance(c, torch.nn.Conv2d) for c in b.modules()) == 2 for b in res_blocks)


def test_lite_needs_ten_times_fewer_macs_at_720p():
    full = count_macs(build_model("deblurgan"), 720, 1280)
    lite = count_macs(build_model("deblurgan-lite"), 720, 1280)
    assert lite * 10 <= full


def test_lite_starts_as_identity():
    model = build_model("deblurgan-lite").eval()
    x = torch.rand(1, 3, 40, 50)
    with torch.no_grad():
        assert torch.equal(model(x), x)


def test_save_then_load_gives_identical_outputs(tmp_path):
    model = perturbed("deblurgan-lite", **TINY_LITE)
    w, card = save_generator(model, tmp_path / "g", trained_on="test", metrics={"psnr": 1.0})
    assert w.name == "g.safetensors" and card.name == "g.json"
    assert json.loads(card.read_text())["arch"] == "deblurgan-lite"
    loaded = load_generator(w)
    x = torch.rand(1, 3, 33, 47)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.card["metrics"] == {"psnr": 1.0}
    # readable like any file this user writes (safetensors alone would leave it 0600)
    assert w.stat().st_mode & 0o777 == card.stat().st_mode & 0o777


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'.*deblurgan"):
        build_model("nope")


def test_missing_truncated_and_mismatched_weights(tmp_path, tiny_weights):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_generator(tmp_path / "missing.safetensors")
    w, card = tiny_weights, tiny_weights.with_suffix(".json")
    data = w.read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "t.json").write_text(card.read_text())
    with pytest.raises(WeightsError, match="t.safetensors.*truncated"):
        load_generator(tmp_path / "t.safetensors")
    # a card that claims another architecture
    c = json.loads(card.read_text())
    c["arch"], c["args"] = "deblurgan", TINY["deblurgan"]
    card.write_text(json.dumps(c))
    with pytest.raises(WeightsError, match="does not match architecture 'deblurgan'"):
        load_generator(w)


def test_weights_of_another_shape_than_the_card_is_one_short_line_naming_the_tensor_and_the_fix(tmp_path):
    """A .safetensors exported at width 16 beside a .json card saying width 8 (issue 17)."""
    from typer.testing import CliRunner

    from streamdeblur.cli import app

    w, card = save_generator(build_model("deblurgan-lite", **{**TINY["deblurgan-lite"], "width": 16}), tmp_path / "g")
    c = json.loads(card.read_text())
    c["args"]["width"] = 8
    card.write_text(json.dumps(c))
    with pytest.raises(WeightsError) as e:
        load_generator(w)
    msg = str(e.value)
    assert "'intro.weight' is [16, 3, 3, 3] in the file, [8, 3, 3, 3] by the card" in msg, msg
    assert ".json card does not match the .safetensors" in msg and "streamdeblur-train export" in msg
    assert "size mismatch" not in msg and "{" not in msg and len(msg) < 260, (
        msg
    )  # not PyTorch's text, not the args dict
    # as the user meets it: one line, exit 2
    import av
    import numpy as np

    clip = tmp_path / "clip.mkv"
    with av.open(str(clip), "w") as out:
        v = out.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 32, 32, "bgr0"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
            f.pts = i
            for pk in [*v.encode(f), *(v.encode() if i == 2 else [])]:
                out.mux(pk)
    res = CliRunner().invoke(app, ["run", str(clip), "-o", str(tmp_path / "out.mkv"), "--weights", str(w)])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith(
        "streamdeblur: error: g.safetensors does not match"
    ), res.stderr


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_holding_nan_or_inf_are_refused_in_one_line_before_any_output(tmp_path, tiny_weights, bad):
    """A diverged training's export loads and runs: every frame black, exit 0. It must be refused."""
    import numpy as np
    from safetensors.torch import load_file, save_file
    from typer.testing import CliRunner
    from videofiles import random_frames, write_video

    from streamdeblur.cli import app

    state = load_file(str(tiny_weights))
    name = sorted(state)[1]
    state[name].view(-1)[0] = bad
    w = tmp_path / "diverged.safetensors"
    save_file(state, str(w))
    w.with_suffix(".json").write_text(tiny_weights.with_suffix(".json").read_text())
    with pytest.raises(WeightsError, match=f"holds NaN or infinite values \\(tensor '{name}'\\)"):
        load_generator(w)
    clip = tmp_path / "clip.mkv"
    write_video(clip, random_frames(3, 32, 32))
    line = (
        f"streamdeblur: error: {w} holds NaN or infinite values (tensor '{name}'): it is damaged, or its training "
        "diverged; export it again from a checkpoint with finite losses, or leave --weights out for the shipped model"
    )
    runner = CliRunner()
    for args, out in (
        (["run", str(clip), "-o", str(tmp_path / "out.mkv"), "--backend", "torch"], tmp_path / "out.mkv"),
        (["export", "-o", str(tmp_path / "g.onnx")], tmp_path / "g.onnx"),
    ):
        res = runner.invoke(app, [*args, "--weights", str(w)])
        assert res.exit_code == 2, res.output
        assert res.stderr.splitlines() == [line] and res.stdout == ""
        assert not out.exists()
    assert np.isfinite(load_file(str(tiny_weights))[name].numpy()).all()  # the good one still loads
    load_generator(tiny_weights)


def test_weights_stored_as_integers_are_refused_not_truncated(tmp_path, tiny_weights):
    """A .safetensors whose float tensors were written as integers (a converter's slip) loaded: the
    weights truncated to whole numbers, and every frame came out wrong with exit 0."""
    from safetensors.torch import load_file, save_file

    state = {
        k: v.round().to(torch.int32) if v.is_floating_point() else v for k, v in load_file(str(tiny_weights)).items()
    }
    w = tmp_path / "ints.safetensors"
    save_file(state, str(w))
    w.with_suffix(".json").write_text(tiny_weights.with_suffix(".json").read_text())
    with pytest.raises(WeightsError, match=r"tensor '[\w.]+' is int32 in the file, float32 in the model \(\+"):
        load_generator(w)
    load_generator(tiny_weights)  # float16 or float32 still loads


@pytest.mark.parametrize(
    "card,words",
    [
        ({"arch": ["deblurgan-lite"], "args": {}}, "names unknown architecture ['deblurgan-lite']; known: deblurgan"),
        ("{broken", "is unreadable (JSONDecodeError"),
    ],
)
def test_a_damaged_card_is_one_line_with_the_fix(tmp_path, tiny_weights, card, words):
    """A card whose "arch" is a list ended in 'internal error: TypeError: unhashable type'; an unreadable
    one named no fix. Both are one line now, with what to do."""
    from typer.testing import CliRunner

    from streamdeblur.cli import app

    w = tmp_path / "g.safetensors"
    w.write_bytes(tiny_weights.read_bytes())
    w.with_suffix(".json").write_text(card if isinstance(card, str) else json.dumps(card))
    r = CliRunner().invoke(app, ["export", "--weights", str(w), "-o", str(tmp_path / "g.onnx")])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.splitlines()
    assert line.startswith("streamdeblur: error: model card") and words in line
    assert "; known: " in line or "; re-export the generator with `streamdeblur-train export`" in line
    assert not (tmp_path / "g.onnx").exists()


def test_models_command_prints_params_and_gmacs():
    from typer.testing import CliRunner

    from streamdeblur.cli import app

    r = CliRunner().invoke(app, ["models", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["model"]: row for row in json.loads(r.output)}
    assert set(rows) == set(MODELS)
    assert 11.0e6 < rows["deblurgan"]["params"] < 11.8e6
    assert 45 < rows["deblurgan"]["gmacs"]["256x256"] < 55
    assert rows["deblurgan-lite"]["gmacs"]["1280x720"] * 10 <= rows["deblurgan"]["gmacs"]["1280x720"]
    # the shipped generator's figures: its own card's architecture and parameter count
    card = json.loads(shipped_weights("deblurgan-lite").with_suffix(".json").read_text())
    assert rows["deblurgan-lite"]["args"] == card["args"] and rows["deblurgan-lite"]["params"] == card["params"]
    bad = CliRunner().invoke(app, ["models", "--size", "12by7"])
    assert bad.exit_code == 2 and "is not a size" in bad.output and "width x height" in bad.output

"""A model card's architecture arguments are checked against the model's schema before anything
is allocated: a negative, absurd or mistyped one is one line, through the library and `run`."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.errors import WeightsError
from streamdeblur.models import build_model, load_generator


@pytest.mark.parametrize(
    "arch,args,words",
    [
        ("deblurgan-lite", {"width": -4}, "width must be between 1 and 512, got -4"),
        ("deblurgan-lite", {"width": 100000}, "width must be between 1 and 512, got 100000"),
        ("deblurgan-lite", {"width": "16"}, "width must be an integer"),
        (
            "deblurgan-lite",
            {"enc_blocks": [1, -1], "dec_blocks": [1, 1]},
            "enc_blocks entries must be between 0 and 64, got -1",
        ),
        ("deblurgan-lite", {"enc_blocks": 3}, "enc_blocks must be a list of 1 to 8 integers"),
        ("deblurgan-lite", {"depth": 3}, "has no argument 'depth'"),
        ("deblurgan", {"dropout": 2.0}, "dropout must be between 0 and 1"),
        ("deblurgan", {"base_channels": True}, "base_channels must be an integer"),
        (
            "deblurgan-lite",
            {"width": 512, "enc_blocks": [8] * 8, "dec_blocks": [1] * 8},
            "M parameters (at most 200 M)",
        ),
    ],
)
def test_bad_architecture_arguments_are_one_line_before_any_allocation(arch, args, words):
    with pytest.raises(WeightsError) as e:
        build_model(arch, **args)
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_a_card_with_an_absurd_width_is_one_line_from_run(tmp_path, tiny_weights):
    card = tiny_weights.with_suffix(".json")
    c = json.loads(card.read_text())
    c["args"]["width"] = 100000
    card.write_text(json.dumps(c))
    with pytest.raises(WeightsError, match="width must be between 1 and 512"):
        load_generator(tiny_weights)
    clip = tmp_path / "in.mkv"
    with av.open(str(clip), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr0"
        for pk in [*s.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")), *s.encode()]:
            out.mux(pk)
    res = CliRunner().invoke(app, ["run", str(clip), "-o", str(tmp_path / "o.mkv"), "--weights", str(tiny_weights)])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("streamdeblur: error:") and "width" in err, err
    # the line names the card at fault (it said only "model 'deblurgan-lite': width must be ...")
    assert err.startswith(f"streamdeblur: error: model card {card}: model 'deblurgan-lite': width must be"), err
    assert err.endswith("re-export the generator with `streamdeblur-train export`"), err

"""The bench's option parsers and :class:`BenchConfig`'s checks."""

from __future__ import annotations

import pytest

from streamdeblur.backends import BackendOptions
from streamdeblur.bench.config import SIZE_LIMITS, BenchConfig, parse_ints, parse_names
from streamdeblur.errors import InputError
from streamdeblur.sizes import parse_sizes


def test_sizes_with_the_bench_limits():
    assert parse_sizes("640x360, 1280X720,640x360", **SIZE_LIMITS) == ((640, 360), (1280, 720))
    for bad in ("", "8x8", "641x360", "8194x16"):
        with pytest.raises(InputError):
            parse_sizes(bad, **SIZE_LIMITS)


def test_ints_and_names():
    assert parse_ints("1, 4,1") == (1, 4)
    for bad in ("0,4", "x", ""):
        with pytest.raises(InputError, match="--batch"):
            parse_ints(bad)
    assert parse_names(" torch,onnxruntime,torch,") == ("torch", "onnxruntime")
    assert parse_names("") == ()


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"frames": 0}, "--frames"),
        ({"warmup": -1}, "--warmup"),
        ({"batches": ()}, "nothing to measure"),
        ({"max_tile": 8}, "--max-tile"),
        ({"threads": 0}, "--threads"),
        ({"precision": "int8"}, "--precision"),
        ({"openvino_hint": "fast"}, "openvino_hint"),
        ({"openvino_precision": "fp16"}, "openvino_precision"),
        ({"input": "a.mp4", "synthetic": (64, 48)}, "not both"),
    ],
)
def test_config_refuses(kw, words):
    with pytest.raises(InputError, match=words):
        BenchConfig(**kw)


def test_backend_options_carry_every_backend_setting():
    config = BenchConfig(precision="fp32", max_tile=64, threads=2, openvino_precision="bf16", openvino_hint="latency")
    assert config.backend_options == BackendOptions(
        precision="fp32", max_tile=64, threads=2, openvino_precision="bf16", openvino_hint="latency"
    )
    assert BenchConfig().backend_options == BackendOptions()

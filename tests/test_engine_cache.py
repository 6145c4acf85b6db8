"""Engine sidecar checks, cache naming, finding engines and profiles (streamdeblur.engine_cache).

None of this needs TensorRT or a GPU: the sidecar logic is what decides whether an engine
may be loaded, and it runs before TensorRT is touched.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from streamdeblur import engine_cache as E
from streamdeblur.errors import EngineMismatchError, InputError, ShapeError
from streamdeblur.identity import ModelInfo, weights_sha256
from streamdeblur.machine import GpuInfo
from streamdeblur.models import build_model
from streamdeblur.onnx_export import onnx_metadata

H100 = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")
TRT = "10.9.0.34"


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return build_model("deblurgan-lite", width=8, enc_blocks=[1, 1], dec_blocks=[1, 1], middle_blocks=1).eval()


@pytest.fixture()
def sidecar(gen) -> E.EngineSidecar:
    """What build_engine writes for `gen` (size multiple 4) on an H100 with TensorRT 10.9, default profile."""
    prof = E.Profile().padded(gen.size_multiple, gen.min_size)
    mn, opt, mx = prof.nchw()
    return E.EngineSidecar(
        tensorrt_version=TRT,
        gpu_name=H100.name,
        compute_capability=H100.compute_capability,
        precision="fp16",
        input_name="input",
        output_name="output",
        min_shape=mn,
        opt_shape=opt,
        max_shape=mx,
        onnx_sha256="ab" * 32,
        arch=gen.arch,
        args=gen.arch_args,
        size_multiple=gen.size_multiple,
        min_size=gen.min_size,
        weights_sha256=weights_sha256(gen),
        model_source="deblurgan-lite",
    )


def expected(gen, **kw) -> E.Expected:
    base = dict(
        tensorrt_version=TRT,
        gpu=H100,
        arch=gen.arch,
        args=gen.arch_args,
        weights_sha256=weights_sha256(gen),
        onnx_sha256="ab" * 32,
    )
    base.update(kw)
    return E.Expected(**base)


def mismatch(side, exp) -> str:
    with pytest.raises(EngineMismatchError) as ei:
        E.validate_sidecar(side, exp, "engines/x.engine")
    msg = str(ei.value)
    assert "\n" not in msg and "streamdeblur build-engine --model deblurgan-lite" in msg and "-o engines" in msg
    return msg


def test_matching_sidecar_passes(gen, sidecar):
    E.validate_sidecar(sidecar, expected(gen, frame_hw=(720, 1280)))
    E.validate_sidecar(sidecar, expected(gen, frame_hw=(2160, 3840), tiling=True))  # tiles fit the profile


@pytest.mark.parametrize(
    "change,exp_change,phrase",
    [
        (
            {"gpu_name": "NVIDIA GeForce RTX 4090"},
            {},
            "built for GPU 'NVIDIA GeForce RTX 4090', this is 'NVIDIA H100 80GB HBM3'",
        ),
        ({"compute_capability": "8.0"}, {}, "compute capability 8.0, this GPU has 9.0"),
        ({"tensorrt_version": "10.3.0"}, {}, "built with TensorRT 10.3.0, this is TensorRT 10.9.0.34"),
        ({"onnx_sha256": "cd" * 32}, {}, "built from another ONNX (sha256 cdcdcdcdcdcd"),
        ({"weights_sha256": "0" * 64}, {}, "built from other weights"),
        ({"arch": "deblurgan"}, {}, "built for model 'deblurgan', running 'deblurgan-lite'"),
        ({}, {"frame_hw": (2160, 3840)}, "frame 3840x2160 is above the profile's max 1920x1080"),
        ({}, {"frame_hw": (120, 160)}, "frame 160x120 is below the profile's min 256x256"),
    ],
)
def test_each_difference_is_named_with_the_fix(gen, sidecar, change, exp_change, phrase):
    msg = mismatch(dataclasses.replace(sidecar, **change), expected(gen, **exp_change))
    assert phrase in msg


def test_shape_fix_command_widens_the_profile_in_width_x_height(gen, sidecar):
    msg = mismatch(sidecar, expected(gen, frame_hw=(2160, 3840)))
    assert "--min-shape 256x256 --opt-shape 1280x720 --max-shape 3840x2160 --batch 1" in msg
    assert "--min-shape 160x120" in mismatch(sidecar, expected(gen, frame_hw=(120, 160)))


def test_fix_builds_for_the_generator_being_run(gen, sidecar):
    msg = mismatch(dataclasses.replace(sidecar, weights_sha256="0" * 64), expected(gen))
    assert "--model deblurgan-lite" in msg
    with pytest.raises(EngineMismatchError, match=r"build-engine --weights runs/exp1/generator.safetensors "):
        E.validate_sidecar(
            dataclasses.replace(sidecar, weights_sha256="0" * 64),
            expected(gen, source="runs/exp1/generator.safetensors"),
        )


def test_all_differences_are_listed_at_once(gen, sidecar):
    side = dataclasses.replace(sidecar, gpu_name="Tesla T4", tensorrt_version="8.6.1")
    msg = mismatch(side, expected(gen))
    assert "Tesla T4" in msg and "TensorRT 8.6.1" in msg


def test_check_frame_shape_error_names_the_profile(sidecar):
    E.check_frame(sidecar, (1080, 1920))
    with pytest.raises(
        ShapeError,
        match=r"input size 3840x2160 is outside the TensorRT optimization profile "
        r".*min 256x256, max 1920x1080.*--max-shape 3840x2160",
    ):
        E.check_frame(sidecar, (2160, 3840), engine_path="engines/x.engine")


def test_sidecar_json_round_trip_and_damage(tmp_path, sidecar):
    eng = tmp_path / "a.engine"
    eng.write_bytes(b"not really an engine")
    E.sidecar_path(eng).write_text(sidecar.to_json())
    assert E.EngineSidecar.read(eng) == sidecar
    data = json.loads(sidecar.to_json())
    del data["gpu_name"]
    E.sidecar_path(eng).write_text(json.dumps(data))
    with pytest.raises(EngineMismatchError, match="lacks gpu_name"):
        E.EngineSidecar.read(eng)
    E.sidecar_path(eng).unlink()
    with pytest.raises(EngineMismatchError, match="has no sidecar"):
        E.EngineSidecar.read(eng)


@pytest.mark.parametrize(
    "field,value", [("min_shape", None), ("max_shape", "1x3x1088x1920"), ("opt_shape", [1, 3, 720]), ("min_size", "x")]
)
def test_a_damaged_sidecar_field_is_named_not_an_internal_error(tmp_path, sidecar, field, value):
    """`run --engine X.engine` whose sidecar was edited or damaged ("max_shape": "1x3x1088x1920") ended in
    'internal error: ValueError: invalid literal for int()'; now the sidecar is named as damaged, with the fix."""
    eng = tmp_path / "a.engine"
    eng.write_bytes(b"not really an engine")
    data = json.loads(sidecar.to_json())
    data[field] = value
    E.sidecar_path(eng).write_text(json.dumps(data))
    with pytest.raises(EngineMismatchError, match=r"a\.engine\.json is damaged .*; rebuild the engine"):
        E.EngineSidecar.read(eng)
    assert E.find_engines(tmp_path) == []  # and auto passes it over


def test_a_sidecar_of_binary_garbage_is_named_not_an_internal_error(tmp_path):
    eng = tmp_path / "a.engine"
    eng.write_bytes(b"not really an engine")
    E.sidecar_path(eng).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(EngineMismatchError, match=r"cannot read .*a\.engine\.json \(UnicodeDecodeError\); rebuild"):
        E.EngineSidecar.read(eng)
    assert E.find_engines(tmp_path) == []


def test_engine_name_encodes_every_dependency():
    prof = E.Profile().padded(16)
    base = dict(
        onnx_sha256="ab" * 32,
        precision="fp16",
        profile=prof,
        tensorrt_version=TRT,
        gpu=H100,
        workspace_gib=4.0,
        opt_level=3,
    )
    key = E.engine_key(**base)
    assert E.engine_key(**base) == key  # the same inputs find the same file: no rebuild
    assert key.startswith("34a7c35f4542")  # what the engines built before issue 20 are named by: they are still found
    variants = [
        {"onnx_sha256": "cd" * 32},
        {"precision": "fp32"},
        {"profile": E.Profile(max_hw=(2160, 3840)).padded(16)},
        {"profile": E.Profile(batch=4).padded(16)},
        {"tensorrt_version": "10.3.0"},
        {"gpu": GpuInfo("NVIDIA A100-SXM4-80GB", "8.0")},
        {"gpu": GpuInfo(H100.name, "9.1")},
        {"workspace_gib": 8.0},
        {"opt_level": 5},
    ]
    keys = {key} | {E.engine_key(**{**base, **v}) for v in variants}
    assert len(keys) == len(variants) + 1  # different inputs never collide
    name = E.engine_filename("deblurgan-lite", "fp16", H100, TRT, key)
    assert name == f"deblurgan-lite-fp16-nvidia-h100-80gb-hbm3-sm90-trt10.9.0.34-{key[:12]}.engine"
    assert E.timing_cache_path("engines", H100, TRT).name == "nvidia-h100-80gb-hbm3-sm90-trt10.9.0.34.timing.cache"


def test_find_engine_picks_only_one_built_for_this_gpu_trt_and_model(tmp_path, gen, sidecar):
    def put(name, side):
        (tmp_path / name).write_bytes(b"x")
        E.sidecar_path(tmp_path / name).write_text(side.to_json())

    put("other-gpu.engine", dataclasses.replace(sidecar, gpu_name="Tesla T4", compute_capability="7.5"))
    put("other-weights.engine", dataclasses.replace(sidecar, weights_sha256="0" * 64))
    (tmp_path / "no-sidecar.engine").write_bytes(b"x")
    (tmp_path / "broken.engine").write_bytes(b"x")
    E.sidecar_path(tmp_path / "broken.engine").write_text("{not json")
    assert E.find_engine(gen, tmp_path, H100, TRT) is None
    put("good.engine", sidecar)
    hit = E.find_engine(gen, tmp_path, H100, TRT)
    assert hit is not None and hit[0].name == "good.engine"
    assert E.find_engine(gen, tmp_path, H100, "10.3.0") is None
    assert E.find_engine(gen, tmp_path / "missing", H100, TRT) is None


def test_require_engine_explains_why_none_fits(tmp_path, gen, sidecar):
    from streamdeblur.errors import InputNotFoundError

    with pytest.raises(
        InputNotFoundError, match=r"no TensorRT engine for deblurgan-lite in .*build-engine --model deblurgan-lite -o"
    ):
        E.require_engine(gen, tmp_path, H100, TRT)
    (tmp_path / "a.engine").write_bytes(b"x")
    E.sidecar_path(tmp_path / "a.engine").write_text(
        dataclasses.replace(sidecar, gpu_name="NVIDIA L4", compute_capability="8.9").to_json()
    )
    with pytest.raises(
        EngineMismatchError, match="built for GPU 'NVIDIA L4'.*rebuild it here with: streamdeblur build-engine"
    ):
        E.require_engine(gen, tmp_path, H100, TRT)
    (tmp_path / "b.engine").write_bytes(b"x")
    E.sidecar_path(tmp_path / "b.engine").write_text(sidecar.to_json())
    assert E.require_engine(gen, tmp_path, H100, TRT)[0].name == "b.engine"


def test_profile_order_and_padding():
    with pytest.raises(InputError, match="not ordered on height"):
        E.Profile(min_hw=(800, 256), opt_hw=(720, 1280))
    p = E.Profile(min_hw=(360, 640), opt_hw=(720, 1280), max_hw=(1080, 1920), batch=2).padded(16)
    assert p.nchw() == ((1, 3, 368, 640), (2, 3, 720, 1280), (2, 3, 1088, 1920))


def test_foreign_onnx_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(g), str(tmp_path / "f.onnx"))
    with pytest.raises(InputError, match="not a streamdeblur export"):
        ModelInfo.from_metadata(onnx_metadata(tmp_path / "f.onnx"), tmp_path / "f.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match="not a readable ONNX"):
        onnx_metadata(tmp_path / "junk.onnx")


def test_an_older_sidecar_with_a_compiler_field_is_still_read(sidecar):
    data = json.loads(sidecar.to_json())
    assert "compiler" not in data
    data["compiler"] = "tensorrt"
    assert E.EngineSidecar.from_json(json.dumps(data)) == sidecar
    data["compiler"] = "torch-tensorrt"  # issue 20 removed that compiler: its engines are refused by name
    with pytest.raises(E.EngineMismatchError, match="built by torch-tensorrt, which this version no longer runs"):
        E.EngineSidecar.from_json(json.dumps(data))


def test_engine_names_stay_those_of_the_engines_already_built():
    """The key hashes what an engine depends on; the same inputs keep naming the same file."""
    key = E.engine_key("ab" * 32, "fp16", E.Profile(), TRT, H100, 4.0, 3)
    assert key == "49467f9210acadf9489f0096b4e585e6bcb07f2ab9515198ec1ab7c63091736f"

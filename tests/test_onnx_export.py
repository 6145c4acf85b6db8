"""ONNX export (streamdeblur.onnx_export, `streamdeblur export`): ONNX Runtime on the CPU
matches the PyTorch CPU reference on a real photo; the export cache."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from testkit import TINY_LITE
from typer.testing import CliRunner

from streamdeblur.backends import BackendOptions, OnnxRuntimeBackend
from streamdeblur.cli import app
from streamdeblur.errors import InputError, OutputError
from streamdeblur.identity import weights_sha256
from streamdeblur.models import build_model, save_generator
from streamdeblur.onnx_export import cached_onnx, export_onnx, onnx_metadata

FP32_TOL = 1e-4


@pytest.fixture(autouse=True)
def _onnx_cache(tmp_path_factory, monkeypatch):
    """Keep exported ONNX files out of the user's cache."""
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sd-cache"))


FP16_TOL = 2 / 255
# an exact multiple (no padding), odd sizes, a frame smaller than the model's multiple
# (replicate padding), batch 2 of different crops
SIZES = [(1, 128, 160), (1, 237, 311), (1, 97, 131), (1, 6, 9), (2, 120, 161)]
# FP16 skips tiny frames: DeblurGAN's InstanceNorm then normalises over 2x3 pixels at 1/4
# resolution (and at 17x23 over 4x6), where the rounding of a half input alone moves the output past 2/255
SIZES_FP16 = [s for s in SIZES if min(s[1:]) >= 64]


def _crops(photo_batch: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """n different crops of the photo (real content, not noise)."""
    return torch.cat([photo_batch[..., 7 * i : 7 * i + h, 11 * i : 11 * i + w] for i in range(n)])


@pytest.fixture(scope="module", params=["lite", "tiny_deblurgan"])
def generator(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("precision,tol", [("fp32", FP32_TOL), ("fp16", FP16_TOL)])
def test_onnxruntime_matches_pytorch_at_many_sizes(generator, photo_batch, tmp_path, precision, tol):
    path = export_onnx(generator, tmp_path / f"g-{precision}.onnx", precision)
    be = OnnxRuntimeBackend(generator, "cpu", BackendOptions(onnx=path))
    assert be.precision == precision
    for n, h, w in SIZES if precision == "fp32" else SIZES_FP16:
        x = _crops(photo_batch, n, h, w)
        with torch.no_grad():
            ref = generator(x)
        # the generator must really change the photo, or this test could not fail
        assert (ref - x).abs().mean() > 0.01
        y = be.infer(x)
        assert y.shape == x.shape and y.dtype == torch.float32
        diff = (y - ref).abs().max().item()
        assert diff <= tol, f"{generator.arch} {precision} at {n}x{h}x{w}: max abs diff {diff:.2e} > {tol:.2e}"


def test_export_is_opset17_dynamic_and_fp16_is_half_throughout(lite, tmp_path):
    path = export_onnx(lite, tmp_path / "lite16.onnx", "fp16")
    m = onnx.load(str(path))
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
    for io in (m.graph.input[0], m.graph.output[0]):
        dims = io.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "", "height", "width"] and dims[1].dim_value == 3
        assert io.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    # strongly typed TensorRT runs each layer in the type of its tensors: conv weights must be
    # half; normalisation runs in float32 between explicit casts
    inits = {t.name: t.data_type for t in m.graph.initializer}
    conv_w = [n.input[1] for n in m.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert len(conv_w) > 10 and all(inits[w] == onnx.TensorProto.FLOAT16 for w in conv_w)
    casts = [n for n in m.graph.node if n.op_type == "Cast"]
    assert casts, "normalisation should be cast to float32 and back"
    meta = onnx_metadata(path)
    assert meta["streamdeblur.arch"] == "deblurgan-lite" and meta["streamdeblur.precision"] == "fp16"
    assert int(meta["streamdeblur.size_multiple"]) == lite.size_multiple


def test_onnxruntime_backend_process_uint8(lite, photo):
    """The pipeline's entry point: uint8 frames in, uint8 frames out, same shape, real change."""
    be = OnnxRuntimeBackend(lite, "cpu")
    frames = np.stack([photo, photo[::-1].copy()])
    out = be.process(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ref = (lite(x).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert np.abs(out.astype(int) - frames.astype(int)).mean() > 1
    be.close()
    be.close()  # safe twice


def test_cached_export_is_reused_and_keyed_by_weights(lite, tmp_path):
    a = cached_onnx(lite, "fp32", tmp_path)
    mtime = a.stat().st_mtime_ns
    assert cached_onnx(lite, "fp32", tmp_path) == a and a.stat().st_mtime_ns == mtime  # not exported again
    other = type(lite)(**lite.arch_args)  # same arch and args, other weights
    b = cached_onnx(other, "fp32", tmp_path)
    assert b != a and b.exists()
    assert cached_onnx(lite, "fp16", tmp_path) not in (a, b)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_export_command_writes_a_loadable_onnx(tmp_path, lite):
    import onnxruntime as ort

    weights, _ = save_generator(lite, tmp_path / "w" / "g")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "g.onnx"
    r = CliRunner().invoke(
        app, ["export", "--format", "onnx", "--precision", "fp16", "--weights", str(weights), "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "fp16" in r.output
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(float16)"
    r = CliRunner().invoke(app, ["export", "--weights", str(weights), "-o", str(out)])
    assert r.exit_code == 2 and "exists" in r.output and "--overwrite" in r.output
    r = CliRunner().invoke(app, ["export", "--weights", str(weights), "-o", str(out), "--overwrite"])
    assert r.exit_code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["g.onnx"]  # no temporary left


@pytest.mark.parametrize("opset", [24, 99, "newest+1", 16])
def test_an_opset_torch_cannot_export_is_one_line_before_the_model_loads(tmp_path, monkeypatch, opset):
    """--opset 24 was an internal error with ~1000 lines of Torch IR on stdout."""
    import streamdeblur.commands.engine as engine
    from streamdeblur.onnx_export import max_opset

    top = max_opset()
    assert 17 <= top <= 23  # torch's TorchScript exporter: 20 in torch 2.x
    opset = top + 1 if opset == "newest+1" else opset
    monkeypatch.setattr(engine, "_generator", lambda *a: pytest.fail("the model loaded before the check"))
    out = tmp_path / "g.onnx"
    res = CliRunner().invoke(app, ["export", "--opset", str(opset), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert res.stdout == "" and not out.exists()
    why = "is too old" if opset < 17 else f"is newer than torch {torch.__version__.split('+')[0]}'s ONNX exporter"
    assert res.stderr.splitlines() == [
        f"streamdeblur: error: opset {opset} {why}{'' if opset < 17 else f' supports ({top})'}; use opset 17 to {top}"
    ]


def test_the_newest_opset_torch_supports_exports(lite, tmp_path):
    from streamdeblur.onnx_export import max_opset

    path = export_onnx(lite, tmp_path / "g.onnx", "fp32", max_opset())
    assert max(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")) == max_opset()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other weights"])
def test_a_damaged_cached_export_is_made_again_not_run(tiny_weights, tmp_path, monkeypatch, photo, damage):
    """A cache entry cut short (a full disk, a copy) or replaced made ONNX Runtime and OpenVINO fail with
    'internal error: InvalidProtobuf' on every run until the user found and deleted it; now the entry is
    exported again and the run works."""
    from streamdeblur.backends import OpenVINOBackend
    from streamdeblur.models import load_generator

    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path / "cache"))
    gen = load_generator(tiny_weights)
    good = cached_onnx(gen, "fp32")
    if damage == "truncated":
        good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "garbage":
        good.write_bytes(b"garbage\n")
    else:
        export_onnx(type(gen)(**gen.arch_args), good)  # a valid ONNX of other weights under this name
    r = CliRunner().invoke(
        app,
        ["run", str(_png(photo[:40, :56], tmp_path)), "-o", str(tmp_path / "out.png"), "--backend", "onnxruntime"]
        + ["--weights", str(tiny_weights), "-q"],
    )
    assert r.exit_code == 0, r.output
    assert onnx_metadata(good)["streamdeblur.weights_sha256"] == weights_sha256(gen)  # made again, whole
    OpenVINOBackend(gen, "cpu", BackendOptions(precision="fp32")).close()  # reads the same entry


def _png(image, folder):
    import cv2

    path = folder / "in.png"
    cv2.imwrite(str(path), image[..., ::-1])
    return path


def test_an_unwritable_cache_is_one_line_naming_the_cache_variable(tiny_weights, tmp_path, monkeypatch, photo):
    """STREAMDEBLUR_CACHE_DIR somewhere nothing can be written: onnxruntime and openvino said 'check the
    folder exists' of a folder the user never named; torch-compile ended in 'internal error:
    NotADirectoryError'. Each is now one line naming the cache and STREAMDEBLUR_CACHE_DIR, exit 2."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    picture = _png(photo[:40, :56], tmp_path)
    for backend in ("onnxruntime", "openvino", "torch-compile"):
        r = CliRunner().invoke(
            app,
            ["run", str(picture), "-o", str(tmp_path / f"{backend}.png"), "--backend", backend]
            + ["--weights", str(tiny_weights), "-q"],
        )
        assert r.exit_code == 2, (backend, r.output)
        line = r.output.strip().splitlines()[-1]
        assert line.startswith("streamdeblur: error: cannot write") and "STREAMDEBLUR_CACHE_DIR" in line, line
        assert "internal error" not in r.output
    assert not (tmp_path / "onnxruntime.png").exists()


def test_an_onnx_of_other_weights_is_refused_not_run(lite, tmp_path):
    """BackendOptions(onnx=...) holding an export of other weights of the same architecture ran those
    weights without a word (outputs 39 levels off the generator asked for); now it is refused by name."""
    other = export_onnx(type(lite)(**lite.arch_args), tmp_path / "other.onnx")
    with pytest.raises(InputError, match="other deblurgan-lite weights"):
        OnnxRuntimeBackend(lite, "cpu", BackendOptions(onnx=other))


def test_export_output_mistakes_are_one_line_before_the_export(tiny_weights, tmp_path, monkeypatch):
    """`export -o -` wrote a 15 MB file named '-' (where `run -o -` means stdout); `-o a.onnx/x.onnx` with
    a.onnx a file exported for seconds, then said x.onnx 'appeared while the ONNX was being exported'. Each
    is now one line naming the mistake, exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.onnx").write_bytes(b"a file, not a folder")
    cases = {
        "-": "streamdeblur: error: export writes an ONNX file, not to stdout; give -o a file name such as "
        "model-fp32.onnx",
        "a.onnx/x.onnx": "streamdeblur: error: cannot write a.onnx/x.onnx: a.onnx is not a folder; give --output a "
        "writable place",
    }
    for out, line in cases.items():
        r = CliRunner().invoke(app, ["export", "--weights", str(tiny_weights), "-o", out])
        assert r.exit_code == 2 and r.output.strip() == line, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "weights"]
    with pytest.raises(OutputError, match="a.onnx is not a folder"):  # the library call too
        export_onnx(build_model("deblurgan-lite", **TINY_LITE), tmp_path / "a.onnx" / "x.onnx")

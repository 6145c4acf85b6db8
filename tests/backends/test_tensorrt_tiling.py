"""The TensorRT backend's choice of tiles and of the size it runs small frames at, which run without
TensorRT: the engine's place is taken by the PyTorch generator (the engine itself is
tests/backends/test_tensorrt_backend.py, on a GPU)."""

from __future__ import annotations

import torch

from streamdeblur.backends import TensorRTBackend
from streamdeblur.engine_cache import EngineSidecar


def _sidecar(lite, max_hw, min_hw=(16, 16)):
    return EngineSidecar(
        tensorrt_version="10.13.0.35", gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
        precision="fp16", input_name="input", output_name="output", min_shape=(1, 3, *min_hw),
        opt_shape=(1, 3, *max_hw), max_shape=(1, 3, *max_hw), onnx_sha256="0" * 64, arch=lite.arch,
        args=dict(lite.arch_args), size_multiple=lite.size_multiple, min_size=lite.min_size,
        weights_sha256="0" * 64,
    )  # fmt: skip


class _EngineIsTheGenerator(TensorRTBackend):
    """A TensorRT backend whose engine is the PyTorch generator; records the shapes it is given."""

    def __init__(self, lite, max_hw, max_tile):
        self.generator, self.device, self.max_tile, self.tile_overlap = lite, "cuda", max_tile, None
        self.multiple, self.min_size, self.tiling = lite.size_multiple, lite.min_size, True
        self.sidecar, self.engine_path, self.shapes = _sidecar(lite, max_hw), "x.engine", []

    def infer(self, batch):
        self.shapes.append(tuple(batch.shape[-2:]))
        with torch.no_grad():
            return self.generator(batch)


def test_max_tile_tiles_frames_the_engine_profile_takes_whole(lite, photo_batch):
    """`run --backend tensorrt --max-tile 64` on 160x128 frames with a 1920x1080 engine ran them whole:
    --max-tile (for a GPU short of memory) did nothing on TensorRT, as on no other backend."""
    x = photo_batch[..., :128, :160]
    be = _EngineIsTheGenerator(lite, (1088, 1920), max_tile=64)
    be.infer_tiled(x)
    assert be.shapes and max(max(s) for s in be.shapes) <= 64, be.shapes
    whole = _EngineIsTheGenerator(lite, (1088, 1920), max_tile=None)
    whole.infer_tiled(x)
    assert whole.shapes == [(128, 160)]


def test_frames_above_the_profile_take_the_smaller_of_its_tile_and_max_tile(lite, photo_batch):
    x = photo_batch[..., :128, :160]
    be = _EngineIsTheGenerator(lite, (96, 96), max_tile=None)
    be.infer_tiled(x)  # 160x128 above 96x96: tiles of 96
    assert max(max(s) for s in be.shapes) == 96
    small = _EngineIsTheGenerator(lite, (96, 96), max_tile=64)
    small.infer_tiled(x)
    assert max(max(s) for s in small.shapes) <= 64


class _ExecuteIsTheCoreNetwork(TensorRTBackend):
    """A TensorRT backend whose engine call (``_execute``, given the padded batch the engine would get)
    is the generator's core network, on the CPU; records the shapes the engine is given."""

    def __init__(self, lite, min_hw, max_hw):
        self.generator, self.device, self.max_tile, self.tile_overlap = lite, "cuda", None, None
        self.multiple, self.min_size, self.tiling = lite.size_multiple, lite.min_size, True
        self.sidecar, self.engine_path, self.shapes = _sidecar(lite, max_hw, min_hw), "x.engine", []
        self.torch_device, self.dtype = torch.device("cpu"), torch.float32

    def _execute(self, xp):
        self.shapes.append(tuple(xp.shape[-2:]))
        with torch.no_grad():
            return self.generator.forward_padded(xp)


def test_frames_below_the_profile_min_are_padded_up_to_it_not_refused(lite, photo_batch):
    """A 240p clip or a thumbnail through `auto`, which picks the engine built for 256x256 and up, ended in
    a ShapeError naming a rebuild; such a frame is now padded up to the profile's min and cropped back."""
    x = photo_batch[..., :40, :72]  # below a 64x64 min in height only
    be = _ExecuteIsTheCoreNetwork(lite, (64, 64), (1088, 1920))
    y = be.infer_tiled(x)
    assert be.shapes == [(64, 80)] and y.shape == x.shape  # 72 wide: padded to the multiple 16 only
    with torch.no_grad():
        ref = lite(x)
    assert (y - ref)[..., :24, :].abs().max() < 1e-3  # what only the padding's height changes is its bottom
    tall = photo_batch[..., :128, :24]  # below in width, above the 96x96 max in height: tiled, then padded
    be = _ExecuteIsTheCoreNetwork(lite, (64, 64), (96, 96))
    assert be.infer_tiled(tall).shape == tall.shape
    assert be.shapes and all(h <= 96 and w == 64 for h, w in be.shapes), be.shapes

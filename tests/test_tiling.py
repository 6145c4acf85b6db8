"""Tiling: a frame split into overlapping tiles comes back without a visible seam."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from streamdeblur.backends import BackendOptions, create_backend
from streamdeblur.errors import InputError
from streamdeblur.tiling import default_overlap, tile_starts, tiled_infer


@pytest.mark.parametrize(
    "length,tile,overlap,align",
    [(360, 128, 48, 16), (240, 128, 48, 16), (101, 64, 16, 1), (129, 128, 32, 16), (1000, 256, 96, 8)],
)
def test_tiles_cover_the_frame_on_the_grid_with_the_overlap(length, tile, overlap, align):
    starts = tile_starts(length, tile, overlap, align)
    assert starts[0] == 0 and min(length, starts[-1] + tile) == length
    assert all(s % align == 0 for s in starts)
    for a, b in zip(starts, starts[1:]):
        assert a < b and a + tile - b >= overlap  # neighbours share at least `overlap` pixels


def test_tiled_output_matches_whole_frame_on_a_real_photo(lite, photo):
    model, img = lite, photo  # 320x240
    whole_backend = create_backend("torch", model, "cpu")
    tiled_backend = create_backend("torch", model, "cpu", BackendOptions(max_tile=128))
    whole = whole_backend.process(img[None])[0].astype(int)
    tiled = tiled_backend.process(img[None])[0].astype(int)
    # the model really changes the photo, so agreement is not trivial
    assert np.abs(whole - img.astype(int)).mean() > 5
    diff = np.abs(whole - tiled)
    assert np.percentile(diff, 99) <= 2, f"p99 {np.percentile(diff, 99)}"
    # and no seam: the error along tile borders is no worse than elsewhere
    assert diff.max() <= 8


def test_tiling_without_overlap_would_show_seams(lite, photo_batch):
    """The blend matters: butted tiles (no overlap) differ visibly from the whole frame."""
    model, x = lite, photo_batch
    with torch.no_grad():
        whole = model(x)
        butted = tiled_infer(model, x, 128, 0, align=16)
        blended = tiled_infer(model, x, 128, default_overlap(128, 16), align=16)
    # the worst pixel sits on a tile border: much worse without the blend
    err_butted = (butted - whole).abs().mul(255).max().item()
    err_blended = (blended - whole).abs().mul(255).max().item()
    assert err_butted > 3 * err_blended


def test_small_frames_skip_tiling_and_odd_sizes_work():
    calls = []

    def fn(t):
        calls.append(tuple(t.shape))
        return t * 0.5

    x = torch.rand(2, 3, 37, 53)
    assert torch.allclose(tiled_infer(fn, x, 64, 16), x * 0.5)
    assert calls == [(2, 3, 37, 53)]
    y = tiled_infer(fn, torch.rand(1, 3, 101, 77), 32, 8)  # many tiles, odd sizes
    assert y.shape == (1, 3, 101, 77)


def test_a_tile_smaller_than_the_models_size_multiple_is_refused_when_the_backend_opens(lite, photo):
    """BackendOptions(max_tile=8) for a model on a 16-pixel grid: one line when the backend opens, not
    the tiler's bare ValueError from the pipeline's thread at the first frame."""
    assert lite.size_multiple == 16
    with pytest.raises(InputError, match="max_tile 8 is smaller than the model's size multiple 16; give max_tile 32"):
        create_backend("torch", lite, "cpu", BackendOptions(max_tile=8))
    with create_backend("torch", lite, "cpu", BackendOptions(max_tile=32)) as backend:
        assert backend.process(photo[None, :40, :40]).shape == (1, 40, 40, 3)


def test_tiles_one_grid_step_wide_are_refused_not_butted_with_seams(lite, photo, tmp_path):
    """`run --max-tile 16` (the option's own minimum) with the shipped model, whose grid is 16 pixels: the
    tiles could not overlap, so the picture came out with an edge every 16 pixels (column gradients 20%
    steeper on the tile borders than elsewhere). Now it is one line naming the smallest tile that blends."""
    import cv2
    from typer.testing import CliRunner

    from streamdeblur.cli import app

    picture = tmp_path / "in.png"
    cv2.imwrite(str(picture), photo[:48, :64, ::-1])
    r = CliRunner().invoke(app, ["run", str(picture), "-o", str(tmp_path / "o.png"), "--max-tile", "16", "-q"])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines() == [
        "streamdeblur: error: max_tile 16 leaves no room for tiles to overlap on the model's 16-pixel grid, "
        "so their seams would show; give max_tile 32 or more"
    ]
    assert not (tmp_path / "o.png").exists()


def test_the_tile_an_out_of_memory_error_suggests_is_one_the_backend_takes(lite, monkeypatch):
    """A 64x48 frame that ran out of memory was told `--max-tile 16`, a tile the shipped model's backend
    refuses (no room to overlap on its 16-pixel grid): the suggestion is now the smallest it takes."""
    from streamdeblur.errors import FrameMemoryError

    backend = create_backend("torch", lite, "cpu")

    def fail(x):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(backend, "infer", fail)
    with pytest.raises(FrameMemoryError, match=r"--max-tile (\d+)") as err:
        backend.process(np.zeros((1, 48, 64, 3), np.uint8))
    suggested = int(re.search(r"--max-tile (\d+)", str(err.value)).group(1))
    assert suggested == 32
    create_backend("torch", lite, "cpu", BackendOptions(max_tile=suggested)).close()

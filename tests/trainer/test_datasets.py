"""The training sources: GoPro-layout pairs, synthetic pairs and the worker processes that make their batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamdeblur.errors import DataError, InputError, InputNotFoundError
from trainer.datasets import GoProPairs, SyntheticPairs, batch_loader
from trainer.photos import photos_in_dir
from trainer.synth import SynthConfig


def test_gopro_loader_reads_the_layout(tiny_gopro: Path) -> None:
    ds = GoProPairs(tiny_gopro, "train")
    assert len(ds) == 6
    kinds = sorted({k for _, _, k, _ in ds})
    assert kinds == ["gopro", "traj"]
    b, s, kind, seq = ds.read(0)
    assert b.shape == s.shape == (48, 64, 3) and b.dtype == np.uint8
    assert seq == f"{kind}_photo"
    # training batches: random crops, the same crop of blur and sharp, deterministic per step
    ds = GoProPairs(tiny_gopro, "train", crop=32, batch_size=3, seed=4)
    x, y = ds.batch(7)
    x2, y2 = ds.batch(7)
    assert x.shape == y.shape == (3, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(ds.batch(8)[0], x)
    assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_missing_and_empty_roots(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="not found"):
        GoProPairs(tmp_path / "nope")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="empty"):
        GoProPairs(tmp_path / "empty")
    with pytest.raises(DataError, match="no test/ folder"):
        GoProPairs(tmp_path / "empty", "test")


def test_differing_file_lists(tiny_gopro_copy: Path) -> None:
    (tiny_gopro_copy / "train" / "traj_photo" / "sharp" / "000001.png").unlink()
    with pytest.raises(DataError, match=r"file lists differ.*only in blur: \['000001.png'\]"):
        GoProPairs(tiny_gopro_copy, "train")


def test_unreadable_image(tiny_gopro_copy: Path) -> None:
    (tiny_gopro_copy / "test" / "gopro_photo" / "blur" / "000000.png").write_bytes(b"\x89PNG truncated")
    ds = GoProPairs(tiny_gopro_copy, "test")
    with pytest.raises(InputError, match="cannot read image .*000000.png"):
        list(ds)


def test_synthetic_batches_deterministic_and_varied(photo_dir: Path) -> None:
    photos = photos_in_dir(photo_dir)
    assert [p.split for p in photos] == ["train", "test"]
    ds = SyntheticPairs(photos, crop=48, batch_size=4, seed=1)
    assert [p.name for p in ds.photos] == ["a"]  # the test photo is never trained on
    b, s = ds.batch(3)
    b2, s2 = ds.batch(3)
    assert b.shape == (4, 3, 48, 48)
    assert torch.equal(b, b2) and torch.equal(s, s2)
    # fresh pairs every step, and blur that is really there
    assert not torch.equal(ds.batch(4)[1], s)
    assert float((b - s).abs().mean()) > 0.003


def test_sharp_fraction_gives_unblurred_pairs_and_leaves_other_runs_alone(photo_dir: Path) -> None:
    photos = photos_in_dir(photo_dir)
    clean = dict(degrade_fraction=0.0, color_jitter=0.1)
    sharp = SyntheticPairs(photos, crop=48, batch_size=4, seed=1, synth=SynthConfig(sharp_fraction=1.0, **clean))
    b, s = sharp.batch(0)
    assert torch.equal(b, s)  # input == target: the model is taught to leave sharp frames alone
    assert float(s.std()) > 0.02  # a real crop, not a blank
    # sharp_fraction 0 draws nothing extra: the batches of existing recipes do not change
    base = SyntheticPairs(photos, crop=48, batch_size=4, seed=1)
    zero = SyntheticPairs(photos, crop=48, batch_size=4, seed=1, synth=SynthConfig(sharp_fraction=0.0))
    assert all(torch.equal(x, y) for x, y in zip(base.batch(5), zero.batch(5)))
    some = SyntheticPairs(photos, crop=48, batch_size=16, seed=1, synth=SynthConfig(sharp_fraction=0.5, **clean))
    b, s = some.batch(2)
    same = [(b[i] == s[i]).all().item() for i in range(16)]
    assert 0 < sum(same) < 16


def test_worker_processes_make_the_same_batches_in_order(photo_dir: Path) -> None:
    ds = SyntheticPairs(photos_in_dir(photo_dir), crop=48, batch_size=2, seed=1, synth=SynthConfig(gopro_fraction=0.5))
    got = list(batch_loader(ds, 5, 11, workers=2, prefetch=2))
    assert [k for k, _, _ in got] == list(range(5, 11))
    for k, b, s in got:
        b1, s1 = ds.batch(k)
        assert torch.equal(b, b1) and torch.equal(s, s1), k

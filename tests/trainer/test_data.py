from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from streamdeblur.errors import DataError, InputError, InputNotFoundError
from trainer import data as D


def test_gopro_loader_reads_the_layout(tiny_gopro: Path) -> None:
    ds = D.GoProPairs(tiny_gopro, "train")
    assert len(ds) == 6
    kinds = sorted({k for _, _, k, _ in ds})
    assert kinds == ["gopro", "traj"]
    b, s, kind, seq = ds.read(0)
    assert b.shape == s.shape == (48, 64, 3) and b.dtype == np.uint8
    assert seq == f"{kind}_photo"
    # training batches: random crops, the same crop of blur and sharp, deterministic per step
    ds = D.GoProPairs(tiny_gopro, "train", crop=32, batch_size=3, seed=4)
    x, y = ds.batch(7)
    x2, y2 = ds.batch(7)
    assert x.shape == y.shape == (3, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(ds.batch(8)[0], x)
    assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_missing_and_empty_roots(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="not found"):
        D.GoProPairs(tmp_path / "nope")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="empty"):
        D.GoProPairs(tmp_path / "empty")
    with pytest.raises(DataError, match="no test/ folder"):
        D.GoProPairs(tmp_path / "empty", "test")


def test_differing_file_lists(tiny_gopro_copy: Path) -> None:
    (tiny_gopro_copy / "train" / "traj_photo" / "sharp" / "000001.png").unlink()
    with pytest.raises(DataError, match=r"file lists differ.*only in blur: \['000001.png'\]"):
        D.GoProPairs(tiny_gopro_copy, "train")


def test_unreadable_image(tiny_gopro_copy: Path) -> None:
    (tiny_gopro_copy / "test" / "gopro_photo" / "blur" / "000000.png").write_bytes(b"\x89PNG truncated")
    ds = D.GoProPairs(tiny_gopro_copy, "test")
    with pytest.raises(InputError, match="cannot read image .*000000.png"):
        list(ds)


def test_synthetic_batches_deterministic_and_varied(photo_dir: Path) -> None:
    photos = D.photos_in_dir(photo_dir)
    assert [p.split for p in photos] == ["train", "test"]
    ds = D.SyntheticPairs(photos, crop=48, batch_size=4, seed=1)
    assert [p.name for p in ds.photos] == ["a"]  # the test photo is never trained on
    b, s = ds.batch(3)
    b2, s2 = ds.batch(3)
    assert b.shape == (4, 3, 48, 48)
    assert torch.equal(b, b2) and torch.equal(s, s2)
    # fresh pairs every step, and blur that is really there
    assert not torch.equal(ds.batch(4)[1], s)
    assert float((b - s).abs().mean()) > 0.003


def test_sharp_fraction_gives_unblurred_pairs_and_leaves_other_runs_alone(photo_dir: Path) -> None:
    photos = D.photos_in_dir(photo_dir)
    clean = dict(degrade_fraction=0.0, color_jitter=0.1)
    sharp = D.SyntheticPairs(photos, crop=48, batch_size=4, seed=1, synth=D.SynthConfig(sharp_fraction=1.0, **clean))
    b, s = sharp.batch(0)
    assert torch.equal(b, s)  # input == target: the model is taught to leave sharp frames alone
    assert float(s.std()) > 0.02  # a real crop, not a blank
    # sharp_fraction 0 draws nothing extra: the batches of existing recipes do not change
    base = D.SyntheticPairs(photos, crop=48, batch_size=4, seed=1)
    zero = D.SyntheticPairs(photos, crop=48, batch_size=4, seed=1, synth=D.SynthConfig(sharp_fraction=0.0))
    assert all(torch.equal(x, y) for x, y in zip(base.batch(5), zero.batch(5)))
    some = D.SyntheticPairs(photos, crop=48, batch_size=16, seed=1, synth=D.SynthConfig(sharp_fraction=0.5, **clean))
    b, s = some.batch(2)
    same = [(b[i] == s[i]).all().item() for i in range(16)]
    assert 0 < sum(same) < 16


def test_missing_package_names_apt_get(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = D.PhotoSpec("ghost", "ghost-wallpapers", str(tmp_path / "no-such-dir" / "*.jpg"))
    monkeypatch.setattr(D, "PHOTO_SPECS", (fake,))
    monkeypatch.setattr(D, "PACKAGES", ("ghost-wallpapers",))
    with pytest.raises(DataError, match=r"not installed: ghost-wallpapers.*apt-get install -y ghost-wallpapers"):
        D.find_photos()
    assert D.find_photos(allow_missing=True) == []


def test_make_dataset_writes_gopro_layout_with_held_out_photos(photo_dir: Path, tmp_path: Path) -> None:
    cfg = D.MakeDataConfig(out=str(tmp_path / "set"), size=(64, 48), train_frames=2, test_frames=1, packages=("none",), photos_dir=str(photo_dir))
    info = D.make_dataset(cfg)
    root = tmp_path / "set"
    assert sorted(p.name for p in (root / "train").iterdir()) == ["gopro_a", "traj_a"]
    assert sorted(p.name for p in (root / "test").iterdir()) == ["gopro_b", "traj_b"]
    assert info["frames"] == {"train": 4, "test": 2}
    assert json.loads((root / "info.json").read_text())["photos"][1]["split"] == "test"
    ds = D.GoProPairs(root, "test")
    b, s, kind, _ = ds.read(0)
    assert b.shape == (48, 64, 3) and kind == "gopro"
    # same seed, same set
    cfg2 = D.MakeDataConfig(**{**cfg.__dict__, "out": str(tmp_path / "again")})
    D.make_dataset(cfg2)
    a = (root / "train" / "traj_a" / "blur" / "000001.png").read_bytes()
    assert a == (tmp_path / "again" / "train" / "traj_a" / "blur" / "000001.png").read_bytes()


def test_worker_processes_make_the_same_batches_in_order(photo_dir: Path) -> None:
    from trainer.train import batch_loader

    ds = D.SyntheticPairs(D.photos_in_dir(photo_dir), crop=48, batch_size=2, seed=1, synth=D.SynthConfig(gopro_fraction=0.5))
    got = list(batch_loader(ds, 5, 11, workers=2, prefetch=2))
    assert [k for k, _, _ in got] == list(range(5, 11))
    for k, b, s in got:
        b1, s1 = ds.batch(k)
        assert torch.equal(b, b1) and torch.equal(s, s1), k


def test_train_and_test_subfolders_give_the_split(photo_dir: Path) -> None:
    # what scripts/photo_bundle.py writes: the held-out photos stay held out wherever the folder goes
    (photo_dir / "train").mkdir()
    for name in ["x", "y", "z"]:
        (photo_dir / "train" / f"{name}.png").write_bytes((photo_dir / "a.png").read_bytes())
    (photo_dir / "test").mkdir()
    (photo_dir / "b.png").rename(photo_dir / "test" / "w.png")
    (photo_dir / "a.png").unlink()
    photos = {p.name: p.split for p in D.photos_in_dir(photo_dir)}
    assert photos == {"w": "test", "x": "train", "y": "train", "z": "train"}
    # and the training source trains on the train/ photos only
    assert [p.name for p in D.SyntheticPairs(D.photos_in_dir(photo_dir), crop=48, batch_size=1).photos] == ["x", "y", "z"]

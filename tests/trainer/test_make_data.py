"""make-data: a synthetic set in the GoPro layout."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.datasets import GoProPairs
from trainer.make_data import MakeDataConfig, make_dataset


def test_make_dataset_writes_gopro_layout_with_held_out_photos(photo_dir: Path, tmp_path: Path) -> None:
    cfg = MakeDataConfig(
        out=str(tmp_path / "set"),
        size=(64, 48),
        train_frames=2,
        test_frames=1,
        packages=("none",),
        photos_dir=str(photo_dir),
    )
    info = make_dataset(cfg)
    root = tmp_path / "set"
    assert sorted(p.name for p in (root / "train").iterdir()) == ["gopro_a", "traj_a"]
    assert sorted(p.name for p in (root / "test").iterdir()) == ["gopro_b", "traj_b"]
    assert info["frames"] == {"train": 4, "test": 2}
    assert json.loads((root / "info.json").read_text())["photos"][1]["split"] == "test"
    ds = GoProPairs(root, "test")
    b, s, kind, _ = ds.read(0)
    assert b.shape == (48, 64, 3) and kind == "gopro"
    # same seed, same set
    cfg2 = MakeDataConfig(**{**cfg.__dict__, "out": str(tmp_path / "again")})
    make_dataset(cfg2)
    a = (root / "train" / "traj_a" / "blur" / "000001.png").read_bytes()
    assert a == (tmp_path / "again" / "train" / "traj_a" / "blur" / "000001.png").read_bytes()

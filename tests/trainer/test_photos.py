"""The photo catalogue and a user's own photo folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamdeblur.errors import DataError
from trainer import photos as P
from trainer.datasets import SyntheticPairs


def test_the_catalogue_holds_every_package_and_held_out_photos() -> None:
    assert len(P.PHOTO_SPECS) == 42 and len({s.name for s in P.PHOTO_SPECS}) == 42
    assert P.PACKAGES == (
        "lomiri-wallpapers-16.04",
        "lomiri-wallpapers-20.04",
        "mate-backgrounds",
        "plasma-workspace-wallpapers",
        "libjxl-testdata",
    )
    test = {s.name for s in P.PHOTO_SPECS if s.split == "test"}
    assert test == {"wine", "picosdeeuropa", "ladybird", "colorfulcups", "grey", "flower"}
    assert all(s.split in ("train", "test") and s.pattern.startswith("/usr/share/") for s in P.PHOTO_SPECS)


def test_missing_package_names_apt_get(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = P.PhotoSpec("ghost", "ghost-wallpapers", str(tmp_path / "no-such-dir" / "*.jpg"))
    monkeypatch.setattr(P, "PHOTO_SPECS", (fake,))
    monkeypatch.setattr(P, "PACKAGES", ("ghost-wallpapers",))
    with pytest.raises(DataError, match=r"not installed: ghost-wallpapers.*apt-get install -y ghost-wallpapers"):
        P.find_photos()
    assert P.find_photos(allow_missing=True) == []


def test_train_and_test_subfolders_give_the_split(photo_dir: Path) -> None:
    # what scripts/photo_bundle.py writes: the held-out photos stay held out wherever the folder goes
    (photo_dir / "train").mkdir()
    for name in ["x", "y", "z"]:
        (photo_dir / "train" / f"{name}.png").write_bytes((photo_dir / "a.png").read_bytes())
    (photo_dir / "test").mkdir()
    (photo_dir / "b.png").rename(photo_dir / "test" / "w.png")
    (photo_dir / "a.png").unlink()
    photos = {p.name: p.split for p in P.photos_in_dir(photo_dir)}
    assert photos == {"w": "test", "x": "train", "y": "train", "z": "train"}
    # and the training source trains on the train/ photos only
    assert [p.name for p in SyntheticPairs(P.photos_in_dir(photo_dir), crop=48, batch_size=1).photos] == ["x", "y", "z"]

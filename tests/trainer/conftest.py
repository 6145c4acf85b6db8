"""Tiny real data for trainer tests: a GoPro-layout set and a photo folder written from the
shared test photo (tests/conftest.py); every trainer test runs on one torch thread."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer import blur, camera


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def write_tiny_gopro(root: Path, photo: np.ndarray, frames: int = 3, size: tuple[int, int] = (64, 48)) -> Path:
    """ROOT/{train,test}/{gopro,traj}_photo/{blur,sharp}/NNNNNN.png from `photo` (RGB)."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for i, (b, s) in enumerate(
            camera.camera_video(photo, size, frames, seed=1 if split == "train" else 2, motion=1.5)
        ):
            _write(root / split / "gopro_photo" / "blur" / f"{i:06d}.png", b)
            _write(root / split / "gopro_photo" / "sharp" / f"{i:06d}.png", s)
        for i in range(frames):
            s = photo[i * 20 : i * 20 + size[1], i * 30 : i * 30 + size[0]]
            b = blur.blur_with_psf(s, blur.trajectory_psf(11, rng, length=9, anxiety=0.001))
            _write(root / split / "traj_photo" / "blur" / f"{i:06d}.png", b)
            _write(root / split / "traj_photo" / "sharp" / f"{i:06d}.png", s)
    return root


@pytest.fixture(scope="session")
def tiny_gopro(tmp_path_factory: pytest.TempPathFactory, photo: np.ndarray) -> Path:
    return write_tiny_gopro(tmp_path_factory.mktemp("gopro"), photo)


@pytest.fixture
def tiny_gopro_copy(tiny_gopro: Path, tmp_path: Path) -> Path:
    """A private copy a test may damage."""
    dst = tmp_path / "gopro"
    shutil.copytree(tiny_gopro, dst)
    return dst


@pytest.fixture
def photo_dir(tmp_path: Path, photo: np.ndarray) -> Path:
    """A folder of two photos (one becomes the held-out test photo)."""
    d = tmp_path / "photos"
    d.mkdir()
    img = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(d / "a.png"), img)
    cv2.imwrite(str(d / "b.png"), cv2.flip(img, 1))
    return d


@pytest.fixture(autouse=True)
def _trainer_one_thread(one_thread):
    """Every trainer test on one intra-op thread (tests/conftest.py `one_thread`)."""

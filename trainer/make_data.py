"""make-data: a synthetic set written in the GoPro layout
``ROOT/{train,test}/SEQ/{blur,sharp}/NNNNNN.png`` (``SEQ`` = ``<kind>_<photo>``, kind
``gopro`` or ``traj``, so evaluation can report each kind), with ``ROOT/info.json``."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from streamdeblur.errors import DataError, OutputExistsError
from streamdeblur.fileio import write_atomic

from . import blur, camera
from .images import write_image
from .photos import PACKAGES, Photo, apt_hint, find_photos, load_photo
from .synth import BLUR_KINDS, SynthConfig, synth_pair

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MakeDataConfig:
    out: str
    size: tuple[int, int] = (512, 384)  # (W, H) of the written frames
    train_frames: int = 8  # frames per training sequence (per photo and kind)
    test_frames: int = 4
    kinds: tuple[str, ...] = BLUR_KINDS
    seed: int = 0
    packages: tuple[str, ...] | None = None
    photos_dir: str | None = None  # extra training photos
    allow_missing: bool = False
    overwrite: bool = False
    synth: SynthConfig = field(default_factory=SynthConfig)


def make_dataset(cfg: MakeDataConfig, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Write a synthetic GoPro-layout set; returns the summary also saved as ``ROOT/info.json``."""
    for k in cfg.kinds:
        if k not in BLUR_KINDS:
            raise DataError(f"unknown blur kind {k!r}", f"choose from {', '.join(BLUR_KINDS)}")
    photos = find_photos(
        cfg.packages, extra_dirs=[cfg.photos_dir] if cfg.photos_dir else (), allow_missing=cfg.allow_missing
    )
    if not photos and not cfg.photos_dir and cfg.packages and set(cfg.packages) == {"none"}:
        raise DataError(
            "no photos: --package none leaves the photo packages out, and no --photos folder was given",
            "pass --photos FOLDER of sharp photos, or leave --package none out",
        )
    if not photos:
        raise DataError("no photos found", apt_hint(PACKAGES))
    out = Path(cfg.out).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file, not a folder", "choose another --out")
    taken = out.exists() and any(out.iterdir())
    if taken and not cfg.overwrite:
        raise OutputExistsError(f"{out} exists and is not empty", "pass --overwrite or choose another --out")
    _check_training_photos(photos, cfg)  # before a set there is replaced
    if taken:
        for part in ("train", "test"):  # the set there is replaced, not mixed with this one
            shutil.rmtree(out / part, ignore_errors=True)
        (out / "info.json").unlink(missing_ok=True)
    jobs = [(p, k) for p in photos for k in cfg.kinds]
    w, h = cfg.size
    counts: dict[str, int] = {"train": 0, "test": 0}
    skipped: list[str] = []
    for j, (photo, kind) in enumerate(jobs):
        if progress:
            progress(j, len(jobs), f"{photo.split}/{kind}_{photo.name}")
        img = load_photo(photo, 4096)
        # one independent stream per (photo, kind): adding a photo does not change the others
        seed_words = [cfg.seed, BLUR_KINDS.index(kind)] + list(photo.name.encode())
        rng = np.random.default_rng(seed_words)
        n = cfg.train_frames if photo.split == "train" else cfg.test_frames
        seq = out / photo.split / f"{kind}_{photo.name}"
        synth = cfg.synth
        lo = _smallest_scale(img, cfg)
        if lo > 1.0:
            if kind == cfg.kinds[0]:
                log.warning(
                    "skipping %s: %dx%d is too small for %dx%d frames without upsampling",
                    photo.name,
                    img.shape[1],
                    img.shape[0],
                    w,
                    h,
                )
            skipped.append(f"{kind}_{photo.name}")
            continue
        synth = SynthConfig(**{**asdict(synth), "scale": (lo, max(lo, synth.scale[1]))})
        if kind == "gopro":
            # one continuous clip, as a GoPro sequence is
            motion = rng.uniform(*synth.motion)
            scale = blur.log_uniform(rng, *synth.scale)
            frames = camera.camera_video(
                img, (w, h), n, subframes=synth.subframes, motion=motion, seed=int(rng.integers(2**62)), scale=scale
            )
            for i, (b, s) in enumerate(frames):
                if rng.random() < synth.degrade_fraction:
                    b = blur.add_noise_and_compression(
                        b, rng, noise_sigma=synth.noise_sigma, jpeg_quality=synth.jpeg_quality
                    )
                write_image(seq / "blur" / f"{i:06d}.png", b)
                write_image(seq / "sharp" / f"{i:06d}.png", s)
        else:
            no_jitter = SynthConfig(**{**asdict(synth), "color_jitter": 0.0})
            for i in range(n):
                b, s, _ = synth_pair(img, (w, h), rng, no_jitter, kind="traj")
                write_image(seq / "blur" / f"{i:06d}.png", b)
                write_image(seq / "sharp" / f"{i:06d}.png", s)
        counts[photo.split] += n
    info = {
        "layout": "ROOT/{train,test}/<kind>_<photo>/{blur,sharp}/NNNNNN.png",
        "size": [w, h],
        "kinds": list(cfg.kinds),
        "seed": cfg.seed,
        "frames": counts,
        "skipped": skipped,
        "photos": [{"name": p.name, "split": p.split, "package": p.package, "path": p.path} for p in photos],
        "synth": asdict(cfg.synth),
    }
    write_atomic(out / "info.json", (json.dumps(info, indent=2) + "\n").encode(), replace=True)
    if progress:
        progress(len(jobs), len(jobs), "done")
    return info


def _smallest_scale(img: np.ndarray, cfg: MakeDataConfig) -> float:
    """The smallest scale (frame px per photo px) a frame of ``img`` may be drawn at; over 1 the photo is
    too small (it would be upsampled). make-data writes whole frames: the view covers a good part of the photo."""
    w, h = cfg.size
    return max(cfg.synth.scale[0], math.hypot(w, h) / (0.8 * min(img.shape[:2])))


def _check_training_photos(photos: list[Photo], cfg: MakeDataConfig) -> None:
    """A set with no training pairs is refused before anything is written: no photo of the training split,
    or none large enough for the frames (each is skipped; the first that fits ends the search)."""
    train = [p for p in photos if p.split == "train"]
    if not train:
        raise DataError(
            f"no training photos: all {len(photos)} found are held out for the test split",
            "pass --photos FOLDER of sharp photos, or another --package",
        )
    if any(_smallest_scale(load_photo(p, 4096), cfg) <= 1.0 for p in train):
        return
    w, h = cfg.size
    where = ", ".join(sorted({p.package for p in train}))
    need = math.ceil(math.hypot(w, h) / 0.8)
    raise DataError(
        f"no training photo in {where} is large enough for {w}x{h} frames (they need a short side of {need} px"
        " or more)",
        "pass a smaller --size, or larger photos",
    )

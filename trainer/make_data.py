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
from .photos import PACKAGES, apt_hint, find_photos, load_photo
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
    if not photos:
        raise DataError("no photos found", apt_hint(PACKAGES))
    out = Path(cfg.out).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file, not a folder", "choose another --out")
    if out.exists() and any(out.iterdir()):
        if not cfg.overwrite:
            raise OutputExistsError(f"{out} exists and is not empty", "pass --overwrite or choose another --out")
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
        # make-data writes whole frames: the view covers a good part of the photo
        synth = cfg.synth
        lo = max(synth.scale[0], math.hypot(w, h) / (0.8 * min(img.shape[:2])))
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

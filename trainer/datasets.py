"""Training and test pairs as batches: synthetic pairs made fresh for every step, pairs
read from a GoPro-layout folder, the two mixed, and the worker processes that make them.

* :class:`GoProPairs` reads ``ROOT/{train,test}/SEQ/{blur,sharp}/NNNNNN.png`` (what
  make-data writes, or a user's own GoPro download).
* :class:`SyntheticPairs` makes a fresh batch for every step from the photos: random
  scale, crop, rotation (the virtual camera), flips, 90-degree turns and colour jitter,
  then GoPro-style or trajectory blur and sometimes noise and JPEG.
* :class:`MixedPairs` draws each crop from real pairs or synthetic ones.

Batch ``k`` depends only on ``(seed, k)``, so a resumed run sees exactly the batches an
uninterrupted one would, whichever the number of :func:`batch_loader` workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from streamdeblur.errors import DataError, InputNotFoundError

from . import blur
from .images import IMAGE_EXTS, read_image, to_tensor
from .photos import Photo, find_photos, load_photo
from .synth import BLUR_KINDS, SynthConfig, augment_pair, finish_pair, synth_pair

if TYPE_CHECKING:
    from .config import TrainConfig


class SyntheticPairs:
    """Fresh synthetic training batches from photos; batch ``k`` depends only on (seed, k)."""

    def __init__(
        self,
        photos: Sequence[Photo],
        *,
        crop: int,
        batch_size: int,
        seed: int = 0,
        synth: SynthConfig = SynthConfig(),
        max_side: int = 2048,
    ) -> None:
        photos = [p for p in photos if p.split == "train"]
        if not photos:
            raise DataError(
                "no training photos",
                "install the photo packages (streamdeblur-train make-data --help) or pass --photos DIR",
            )
        self.photos = photos
        self.crop, self.batch_size, self.seed, self.synth, self.max_side = crop, batch_size, seed, synth, max_side
        self._images = [load_photo(p, max_side) for p in photos]
        # sample photos in proportion to their (shrunk) area: big photos hold more distinct crops
        areas = np.array([im.shape[0] * im.shape[1] for im in self._images], np.float64)
        self._p = areas / areas.sum()

    def describe(self) -> dict:
        return {"kind": "synthetic", "photos": [p.name for p in self.photos], "synth": asdict(self.synth)}

    def __getstate__(self) -> dict:
        # a worker process gets the photo list and reads the photos itself (smaller than pickling pixels)
        return {k: v for k, v in self.__dict__.items() if k != "_images"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._images = [load_photo(p, self.max_side) for p in self.photos]

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One augmented (blurred, sharp) crop, drawn from ``rng``."""
        img = self._images[int(rng.choice(len(self._images), p=self._p))]
        b, s, _ = synth_pair(img, (self.crop, self.crop), rng, self.synth)
        return augment_pair(b, s, rng)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step])
        return _stack_pairs([self.sample(rng) for _ in range(self.batch_size)])


def _stack_pairs(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    return to_tensor([b for b, _ in pairs]), to_tensor([s for _, s in pairs])


# --------------------------------------------------------------------------- GoPro layout


@dataclass(frozen=True)
class Sequence_:
    name: str
    kind: str
    blur: tuple[str, ...]
    sharp: tuple[str, ...]


def blur_kind(seq_name: str) -> str:
    """The blur kind a sequence name carries (``gopro_x`` -> ``gopro``); other names -> ``real``."""
    head = seq_name.split("_", 1)[0]
    return head if head in BLUR_KINDS else "real"


def scan_gopro(root: str | os.PathLike, split: str) -> list[Sequence_]:
    """Check and list ``ROOT/SPLIT/SEQ/{blur,sharp}/*``: matching file lists, at least one pair."""
    root = Path(root).expanduser()
    if not root.exists():
        raise InputNotFoundError(
            f"dataset root not found: {root}",
            "run `streamdeblur-train make-data --out ROOT` or pass a GoPro-layout folder",
        )
    base = root / split
    if not base.is_dir():
        raise DataError(
            f"dataset {root} has no {split}/ folder",
            f"expected the GoPro layout {root}/{split}/SEQUENCE/{{blur,sharp}}/*.png",
        )
    seqs: list[Sequence_] = []
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        bdir, sdir = seq / "blur", seq / "sharp"
        if not bdir.is_dir() or not sdir.is_dir():
            raise DataError(
                f"sequence {seq} lacks a blur/ or sharp/ folder",
                "each sequence needs both blur/ and sharp/ with the same file names",
            )
        bl = sorted(p.name for p in bdir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        sh = sorted(p.name for p in sdir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if bl != sh:
            only_b = sorted(set(bl) - set(sh))[:3]
            only_s = sorted(set(sh) - set(bl))[:3]
            raise DataError(
                f"blur/ and sharp/ file lists differ in {seq} "
                f"(only in blur: {only_b or 'none'}, only in sharp: {only_s or 'none'})",
                "every blurry frame needs a sharp frame of the same name",
            )
        if bl:
            seqs.append(
                Sequence_(
                    seq.name, blur_kind(seq.name), tuple(str(bdir / n) for n in bl), tuple(str(sdir / n) for n in sh)
                )
            )
    if not seqs:
        raise DataError(
            f"dataset {base} is empty (no SEQUENCE/blur/*.png pairs)",
            "run `streamdeblur-train make-data` or check the path",
        )
    return seqs


class GoProPairs:
    """Pairs from a GoPro-layout folder; random crops, flips and turns for training.

    With ``scale`` (LO, HI) each crop is taken at a random size (log-uniform factor of
    the frame: both frames shrunk alike, so the blur shrinks with them, as in footage
    of another size); with ``finish`` the crop then goes through what synthetic pairs do
    after their blur (:func:`trainer.synth.finish_pair`: colour and tone on both, noise
    and JPEG or H.264 on the blurry input), so the model cannot key on one dataset's look.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        crop: int | None = None,
        batch_size: int = 1,
        seed: int = 0,
        max_frames: int | None = None,
        scale: tuple[float, float] = (1.0, 1.0),
        finish: SynthConfig | None = None,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.sequences = scan_gopro(root, split)
        pairs = [(seq.kind, seq.name, b, s) for seq in self.sequences for b, s in zip(seq.blur, seq.sharp)]
        if max_frames is not None and len(pairs) > max_frames:
            # an even spread over the set, so every sequence is represented
            idx = np.linspace(0, len(pairs) - 1, max_frames).round().astype(int)
            pairs = [pairs[i] for i in idx]
        self.pairs = pairs
        self.crop, self.batch_size, self.seed = crop, batch_size, seed
        self.scale, self.finish = (float(scale[0]), float(scale[1])), finish
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def describe(self) -> dict:
        d = {"kind": "gopro", "root": str(self.root), "split": self.split, "pairs": len(self.pairs)}
        if self.scale != (1.0, 1.0) or self.finish is not None:
            d["augment"] = {"scale": list(self.scale), "finish": asdict(self.finish) if self.finish else None}
        return d

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """(blurred, sharp, kind, sequence) of pair ``i``, uint8 RGB."""
        kind, seq, b, s = self.pairs[i]
        bi, si = read_image(b), read_image(s)
        if bi.shape != si.shape:
            raise DataError(
                f"{b} is {bi.shape[1]}x{bi.shape[0]} but its sharp frame {s} is {si.shape[1]}x{si.shape[0]}",
                "blurry and sharp frames must have the same size",
            )
        return bi, si, kind, seq

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, str, str]]:
        for i in range(len(self.pairs)):
            yield self.read(i)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One random, augmented (blurred, sharp) crop of one pair, drawn from ``rng``."""
        if self.crop is None:
            raise ValueError("GoProPairs.sample needs a crop size")
        i = int(rng.integers(len(self.pairs)))
        if i not in self._cache:  # a few dozen full frames: decoding each once is enough
            self._cache[i] = self.read(i)[:2]
        b, s = self._cache[i]
        h, w = b.shape[:2]
        c = self.crop
        if h < c or w < c:
            raise DataError(f"frames of {self.root} are {w}x{h}, smaller than the crop {c}", "pass a smaller --crop")
        if self.scale == (1.0, 1.0):  # the frames as published (no extra draw: older runs keep their batches)
            y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
            b, s = b[y : y + c, x : x + c], s[y : y + c, x : x + c]
        else:
            b, s = _rescaled_crop(b, s, c, rng, self.scale)
        if self.finish is not None:
            b, s = finish_pair(b, s, rng, self.finish)
        return augment_pair(b, s, rng)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of random crops; depends only on (seed, step)."""
        rng = np.random.default_rng([self.seed, step])
        return _stack_pairs([self.sample(rng) for _ in range(self.batch_size)])

    def __getstate__(self) -> dict:
        return {k: (v if k != "_cache" else {}) for k, v in self.__dict__.items()}


def _rescaled_crop(
    b: np.ndarray, s: np.ndarray, c: int, rng: np.random.Generator, scale: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """A c x c crop of both frames as if they had been shrunk by a log-uniform factor in ``scale``.

    The region of c / factor pixels is cut first and shrunk (area filter), which is the same
    crop as of the shrunk frame and much cheaper; a factor the frame cannot hold is raised.
    """
    h, w = b.shape[:2]
    lo, hi = max(scale[0], c / min(h, w)), max(scale[1], c / min(h, w))
    f = blur.log_uniform(rng, lo, hi)
    r = min(h, w, max(c, round(c / f)))
    y, x = int(rng.integers(h - r + 1)), int(rng.integers(w - r + 1))
    if r == c:
        return b[y : y + c, x : x + c], s[y : y + c, x : x + c]
    return tuple(
        cv2.resize(np.ascontiguousarray(im[y : y + r, x : x + r]), (c, c), interpolation=cv2.INTER_AREA)
        for im in (b, s)
    )  # type: ignore[return-value]


class MixedPairs:
    """Real pairs and synthetic pairs in one batch: each crop is real with probability ``real_fraction``.

    Batch ``k`` depends only on ``(seed, k)``, as for the two sources alone.
    """

    def __init__(
        self, real: GoProPairs, synthetic: SyntheticPairs, real_fraction: float, *, batch_size: int, seed: int = 0
    ) -> None:
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be within [0, 1], not {real_fraction}")
        self.real, self.synthetic, self.real_fraction = real, synthetic, real_fraction
        self.batch_size, self.seed = batch_size, seed

    def describe(self) -> dict:
        return {
            "kind": "mixed",
            "real_fraction": self.real_fraction,
            "real": self.real.describe(),
            "synthetic": self.synthetic.describe(),
        }

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step, 1])
        pairs = [
            (self.real if rng.random() < self.real_fraction else self.synthetic).sample(rng)
            for _ in range(self.batch_size)
        ]
        return _stack_pairs(pairs)


# --------------------------------------------------------------------------- a run's source and its workers


def training_data(cfg: TrainConfig) -> SyntheticPairs | GoProPairs | MixedPairs:
    """The batches a run trains on: ``--data`` alone, synthetic pairs, or those mixed with ``--real-data``."""
    synth = SynthConfig(
        gopro_fraction=cfg.gopro_fraction,
        sharp_fraction=cfg.sharp_fraction,
        motion=tuple(cfg.motion),
        motion_log=cfg.motion_log,
        object_fraction=cfg.object_fraction,
        continuous=cfg.continuous_blur,
        ghost_fraction=cfg.ghost_fraction,
        scene_fraction=cfg.scene_fraction,
        scene_compress=cfg.scene_compress,
        scene_zoom=tuple(cfg.scene_zoom),
        scene_motion=tuple(cfg.scene_motion),
        degrade_fraction=cfg.degrade_fraction,
        h264_fraction=cfg.h264_fraction,
        gamma=cfg.gamma,
    )

    def real_pairs(root: str) -> GoProPairs:
        aug = {"scale": tuple(cfg.real_scale), "finish": synth} if cfg.real_augment else {}
        return GoProPairs(root, "train", crop=cfg.crop, batch_size=cfg.batch_size, seed=cfg.seed, **aug)

    if cfg.data:
        return real_pairs(cfg.data)
    if cfg.real_data and cfg.real_fraction >= 1.0:
        return real_pairs(cfg.real_data)
    photos = find_photos(
        cfg.packages,
        extra_dirs=[cfg.photos] if cfg.photos else (),
        allow_missing=cfg.allow_missing_packages or bool(cfg.photos),
    )
    synthetic = SyntheticPairs(photos, crop=cfg.crop, batch_size=cfg.batch_size, seed=cfg.seed, synth=synth)
    if cfg.real_data and cfg.real_fraction > 0.0:
        real = real_pairs(cfg.real_data)
        return MixedPairs(real, synthetic, cfg.real_fraction, batch_size=cfg.batch_size, seed=cfg.seed)
    return synthetic


class _Steps(torch.utils.data.Dataset):
    """Batches ``start .. stop - 1`` of a training source, as a map-style data set."""

    def __init__(self, source: SyntheticPairs | GoProPairs | MixedPairs, start: int, stop: int) -> None:
        self.source, self.start, self.stop = source, start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        b, s = self.source.batch(self.start + i)
        return self.start + i, b, s


def _quiet_worker(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # each worker process is one core's worth of synthesis


def batch_loader(
    source: SyntheticPairs | GoProPairs | MixedPairs,
    start: int,
    stop: int,
    workers: int,
    prefetch: int,
    *,
    pin: bool = False,
) -> torch.utils.data.DataLoader:
    """Batches ``start ..`` in order, made by ``workers`` processes (PyTorch's DataLoader).

    Batch ``k`` depends only on (seed, k), so the batches, and the run, are the same as with
    the single background thread; only the wall-clock time changes.
    """
    return torch.utils.data.DataLoader(
        _Steps(source, start, stop),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        prefetch_factor=max(1, prefetch),
        pin_memory=pin,
        worker_init_fn=_quiet_worker,
        # spawned, not forked: a fork of a process whose OpenMP/OpenCV thread pools have run
        # can deadlock in the child (seen here); each worker reloads the photos itself
        multiprocessing_context="spawn",
        persistent_workers=False,
        # the workers' base seed from a generator of their own, not torch's global one: a resumed
        # run starts them again, and a second draw would part its random stream (the gradient
        # penalty's) from an unbroken run's; the batches depend on (seed, k) alone anyway
        generator=torch.Generator().manual_seed(0),
    )

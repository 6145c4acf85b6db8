"""Training data: the photo packages, paired GoPro-layout sets, on-the-fly synthetic pairs.

* :func:`find_photos` lists the real photographs shipped by the Debian packages in
  DATA.md (illustrations and duplicates left out), each tagged ``train`` or ``test``: the
  test photos are never used for training, so validation measures generalisation.
* :func:`make_dataset` writes a synthetic set in the GoPro layout
  ``ROOT/{train,test}/SEQ/{blur,sharp}/NNNNNN.png`` (``SEQ`` = ``<kind>_<photo>``, kind
  ``gopro`` or ``traj``, so evaluation can report each kind).
* :class:`GoProPairs` reads that layout (a user's own GoPro download too).
* :class:`SyntheticPairs` makes a fresh batch for every step from the photos: random
  scale, crop, rotation (the virtual camera), flips, 90-degree turns and colour jitter,
  then GoPro-style or trajectory blur and sometimes noise and JPEG. Batch ``k`` depends
  only on ``(seed, k)``, so a resumed run sees exactly the batches an uninterrupted one
  would.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from streamdeblur.errors import DataError, InputError, InputNotFoundError, OutputExistsError

from . import blur

log = logging.getLogger(__name__)

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
BLUR_KINDS = ("gopro", "traj")

# --------------------------------------------------------------------------- photo packages


@dataclass(frozen=True)
class PhotoSpec:
    """One real photograph from a Debian package; ``pattern`` is a glob (the largest match wins)."""

    name: str
    package: str
    pattern: str
    split: str = "train"


_BG = "/usr/share/backgrounds"
_KDE = "/usr/share/wallpapers"
_MATE = "/usr/share/backgrounds/mate/nature"
_JXL = "/usr/share/libjxl-testdata"

# Curated by eye: photographs only (the packages also ship illustrations and gradients,
# which teach nothing about real blur). The ``test`` photos span the packages and
# subjects (landscape, macro, interior, architecture) and are never trained on.
PHOTO_SPECS: tuple[PhotoSpec, ...] = (
    # lomiri-wallpapers-16.04
    PhotoSpec("bridge", "lomiri-wallpapers-16.04", f"{_BG}/Bridge_by_Sander_Klootwijk.jpg"),
    PhotoSpec("dragonfly", "lomiri-wallpapers-16.04", f"{_BG}/Dragonfly_by_Bolly.jpg"),
    PhotoSpec("fig", "lomiri-wallpapers-16.04", f"{_BG}/Picture_0B_by_freespace.jpg"),
    PhotoSpec("brushes", "lomiri-wallpapers-16.04", f"{_BG}/Picture_1A_by_freespace.jpg"),
    PhotoSpec("wine", "lomiri-wallpapers-16.04", f"{_BG}/Wine_by_Jakkub_Mede.jpg", "test"),
    PhotoSpec("aitzgorri", "lomiri-wallpapers-16.04", f"{_BG}/aitzgorri_by_Aitzol_Berasategi.jpg"),
    PhotoSpec("free", "lomiri-wallpapers-16.04", f"{_BG}/free_by_Peter_Nerlich.jpg"),
    PhotoSpec("friends", "lomiri-wallpapers-16.04", f"{_BG}/friends_by_Aitzol_Berasategi.jpg"),
    PhotoSpec("clock", "lomiri-wallpapers-16.04", f"{_BG}/greentock_by_Peter_Nerlich.jpg"),
    PhotoSpec("life", "lomiri-wallpapers-16.04", f"{_BG}/life_by_Aitzol_Berasategi.jpg"),
    PhotoSpec("picosdeeuropa", "lomiri-wallpapers-16.04", f"{_BG}/picosdeeuropa_by_Aitzol_Berasategi.jpg", "test"),
    PhotoSpec("seeding", "lomiri-wallpapers-16.04", f"{_BG}/seeding_by_Clements_Engelhardt.jpg"),
    PhotoSpec("sunset", "lomiri-wallpapers-16.04", f"{_BG}/sunset_by_Aitzol_Berasategi.jpg"),
    # lomiri-wallpapers-20.04
    PhotoSpec("kleiber", "lomiri-wallpapers-20.04", f"{_BG}/Kleiber_by_Lukas_Baubkus.jpg"),
    # mate-backgrounds
    PhotoSpec("aqua", "mate-backgrounds", f"{_MATE}/Aqua.jpg"),
    PhotoSpec("blinds", "mate-backgrounds", f"{_MATE}/Blinds.jpg"),
    PhotoSpec("dune", "mate-backgrounds", f"{_MATE}/Dune.jpg"),
    PhotoSpec("freshflower", "mate-backgrounds", f"{_MATE}/FreshFlower.jpg"),
    PhotoSpec("garden", "mate-backgrounds", f"{_MATE}/Garden.jpg"),
    PhotoSpec("greenmeadow", "mate-backgrounds", f"{_MATE}/GreenMeadow.jpg"),
    PhotoSpec("ladybird", "mate-backgrounds", f"{_MATE}/LadyBird.jpg", "test"),
    PhotoSpec("raindrops", "mate-backgrounds", f"{_MATE}/RainDrops.jpg"),
    PhotoSpec("storm", "mate-backgrounds", f"{_MATE}/Storm.jpg"),
    PhotoSpec("twowings", "mate-backgrounds", f"{_MATE}/TwoWings.jpg"),
    PhotoSpec("wood", "mate-backgrounds", f"{_MATE}/Wood.jpg"),
    PhotoSpec("yellowflower", "mate-backgrounds", f"{_MATE}/YellowFlower.jpg"),
    # plasma-workspace-wallpapers (the largest of each folder's per-resolution copies)
    PhotoSpec("bythewater", "plasma-workspace-wallpapers", f"{_KDE}/BytheWater/contents/images/*"),
    PhotoSpec("coldripple", "plasma-workspace-wallpapers", f"{_KDE}/ColdRipple/contents/images/*"),
    PhotoSpec("colorfulcups", "plasma-workspace-wallpapers", f"{_KDE}/ColorfulCups/contents/images/*", "test"),
    PhotoSpec("darkesthour", "plasma-workspace-wallpapers", f"{_KDE}/DarkestHour/contents/images/*"),
    PhotoSpec("eveningglow", "plasma-workspace-wallpapers", f"{_KDE}/EveningGlow/contents/images/*"),
    PhotoSpec("fallenleaf", "plasma-workspace-wallpapers", f"{_KDE}/FallenLeaf/contents/images/*"),
    PhotoSpec("grey", "plasma-workspace-wallpapers", f"{_KDE}/Grey/contents/images/*", "test"),
    PhotoSpec("kite", "plasma-workspace-wallpapers", f"{_KDE}/Kite/contents/images/*"),
    PhotoSpec("onestandsout", "plasma-workspace-wallpapers", f"{_KDE}/OneStandsOut/contents/images/*"),
    PhotoSpec("path", "plasma-workspace-wallpapers", f"{_KDE}/Path/contents/images/*"),
    PhotoSpec("volna", "plasma-workspace-wallpapers", f"{_KDE}/Volna/contents/images/*"),
    PhotoSpec("summer1am", "plasma-workspace-wallpapers", f"{_KDE}/summer_1am/contents/images/*"),
    # libjxl-testdata
    PhotoSpec("flower", "libjxl-testdata", f"{_JXL}/jxl/flower/flower.png", "test"),
    PhotoSpec("keongmacan", "libjxl-testdata", f"{_JXL}/external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png"),
    PhotoSpec("riaphotographs", "libjxl-testdata", f"{_JXL}/external/wesaturate/500px/tmshre_riaphotographs_srgb8.png"),
    PhotoSpec("bliznaca", "libjxl-testdata", f"{_JXL}/external/wesaturate/500px/u76c0g_bliznaca_srgb8.png"),
)
PACKAGES = tuple(dict.fromkeys(s.package for s in PHOTO_SPECS))


@dataclass(frozen=True)
class Photo:
    name: str
    path: str
    split: str
    package: str = ""


def _largest(paths: Sequence[str]) -> str | None:
    files = [p for p in paths if p.lower().endswith(IMAGE_EXTS)]
    if not files:
        return None

    def area(p: str) -> int:
        m = re.match(r"(\d+)x(\d+)", os.path.basename(p))
        return int(m.group(1)) * int(m.group(2)) if m else os.path.getsize(p)

    return max(files, key=area)


def apt_hint(packages: Sequence[str]) -> str:
    return f"install them with: sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"


def find_photos(
    packages: Sequence[str] | None = None, *, extra_dirs: Sequence[str | os.PathLike] = (), allow_missing: bool = False
) -> list[Photo]:
    """The curated photographs present on this machine, plus every image in ``extra_dirs`` (train split).

    A missing package is an error naming the ``apt-get install`` that fixes it (nothing is
    installed here), unless ``allow_missing``.
    """
    wanted = PACKAGES if packages is None else tuple(p for p in packages if p != "none")
    unknown = [p for p in wanted if p not in PACKAGES]
    if unknown:
        raise DataError(f"unknown photo package(s): {', '.join(unknown)}", f"choose from: {', '.join(PACKAGES)}")
    photos: list[Photo] = []
    missing: list[str] = []
    for spec in PHOTO_SPECS:
        if spec.package not in wanted:
            continue
        path = _largest(sorted(glob.glob(spec.pattern)))
        if path is None:
            if spec.package not in missing:
                missing.append(spec.package)
            continue
        photos.append(Photo(spec.name, path, spec.split, spec.package))
    if missing and not allow_missing:
        raise DataError(f"photo package(s) not installed: {', '.join(missing)}", apt_hint(missing))
    if missing:
        log.warning("photo packages not installed (skipped): %s; %s", ", ".join(missing), apt_hint(missing))
    for d in extra_dirs:
        photos.extend(photos_in_dir(d))
    return photos


def photos_in_dir(folder: str | os.PathLike, holdout: int = 5) -> list[Photo]:
    """Every image file under ``folder`` (recursively); every ``holdout``-th one is a test photo.

    A held-out share (by sorted name, so it never changes between runs) lets make-data and
    validation score a user's own photos on pictures the training never saw. With a
    single photo there is nothing to hold out. A folder with ``train/`` and ``test/``
    subfolders says the split itself (as ``scripts/photo_bundle.py`` writes it).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputNotFoundError(f"photo folder not found: {folder}", "pass a folder of sharp photos")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTS)}) in {folder}", "pass a folder of sharp photos")
    explicit = (folder / "train").is_dir() and (folder / "test").is_dir()
    photos: list[Photo] = []
    used: set[str] = set()
    for i, p in enumerate(files):
        stem = re.sub(r"[^A-Za-z0-9]+", "", p.stem.lower()) or "photo"
        name, j = stem, 1
        while name in used:
            j += 1
            name = f"{stem}{j}"
        used.add(name)
        if explicit:
            split = "test" if p.relative_to(folder).parts[0] == "test" else "train"
        else:
            split = "test" if (len(files) > 1 and holdout > 0 and i % holdout == holdout - 1) else "train"
        photos.append(Photo(name, str(p), split, str(folder)))
    if not explicit and len(files) > 1 and not any(p.split == "test" for p in photos):
        photos[-1] = replace(photos[-1], split="test")
    return photos


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB; an unreadable file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"image not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InputError(f"cannot read image {path} (empty, truncated or not an image)", "replace or delete the file")
    if img.dtype == np.uint16:
        img = np.rint(img / 257.0).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def write_image(path: Path, img: np.ndarray, params: Sequence[int] = ()) -> None:
    """Write an RGB image (format from the extension, OpenCV ``params``) through a temporary
    name, so an interrupted make-data never leaves half an image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), list(params)):
        raise InputError(f"cannot write {path}")
    os.replace(tmp, path)


def load_photo(photo: Photo, max_side: int = 2048) -> np.ndarray:
    """Read a photo and shrink it (area filter) to at most ``max_side``: sharper per pixel, less memory."""
    img = read_image(photo.path)
    h, w = img.shape[:2]
    s = max_side / max(h, w)
    if s < 1:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


# --------------------------------------------------------------------------- synthesis of one pair


@dataclass(frozen=True)
class SynthConfig:
    """How synthetic pairs are made (shared by make-data and on-the-fly training)."""

    gopro_fraction: float = 0.5  # the rest are trajectory-PSF pairs
    sharp_fraction: float = 0.0  # share of pairs with no blur at all: sharp frames must pass through
    subframes: tuple[int, int] = (7, 13)
    motion: tuple[float, float] = (0.3, 1.5)  # camera speed multiplier range
    psf_size: tuple[int, int] = (7, 31)
    degrade_fraction: float = 0.3  # share of blurry inputs with sensor noise and JPEG
    noise_sigma: tuple[float, float] = (0.0, 0.015)
    jpeg_quality: tuple[int, int] = (50, 95)
    scale: tuple[float, float] = (0.3, 1.0)  # output px per (max-2048 px) photo px, log-uniform
    color_jitter: float = 0.1
    object_fraction: float = 0.0  # share of GoPro-style pairs with 1-2 objects moving over the moving background
    continuous: bool = False  # integrate motion within each sub-frame: smooth streaks, not ghosts (blur.camera_video)


def _static_view(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """A still camera's sharp view of ``size`` (W, H): a randomly placed, rotated, scaled crop."""
    return next(blur.camera_video(photo, size, 1, subframes=1, motion=0.0, seed=int(rng.integers(2**62)), scale=scale))[1]


def synth_pair(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator, cfg: SynthConfig, kind: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """One (blurred, sharp, kind) uint8 pair of ``size`` (W, H) from a photo.

    ``kind`` None draws one: ``"sharp"`` (input = target, before noise/JPEG) with
    ``cfg.sharp_fraction``, else GoPro-style with ``cfg.gopro_fraction``, else trajectory.
    """
    if kind is None:
        # the extra draw only when asked for, so runs without sharp pairs keep their batches
        if cfg.sharp_fraction > 0 and rng.random() < cfg.sharp_fraction:
            kind = "sharp"
        else:
            kind = "gopro" if rng.random() < cfg.gopro_fraction else "traj"
    w, h = size
    scale = math.exp(rng.uniform(math.log(cfg.scale[0]), math.log(cfg.scale[1])))
    # never ask for more photo than there is: the view's diagonal must fit in half the short side
    scale = max(scale, math.hypot(w, h) / (0.5 * min(photo.shape[:2])))
    if kind == "gopro":
        motion = rng.uniform(*cfg.motion)
        # the extra draw only when asked for, so configurations without objects keep their pairs
        objects = int(rng.integers(1, 3)) if cfg.object_fraction > 0 and rng.random() < cfg.object_fraction else 0
        blurred, sharp = blur.gopro_pair(photo, (w, h), rng, subframes=cfg.subframes, motion=motion, scale=scale, objects=objects, continuous=cfg.continuous)
    elif kind == "sharp":
        sharp = _static_view(photo, (w, h), rng, scale)
        blurred = sharp.copy()
    elif kind == "traj":
        k = int(rng.integers(cfg.psf_size[0], cfg.psf_size[1] + 1)) | 1
        pad = k // 2 + 1
        cw, ch = w + 2 * pad, h + 2 * pad
        # static camera: a randomly rotated, scaled crop, then the PSF
        sharp_big = _static_view(photo, (cw, ch), rng, scale)
        blurred = blur.blur_with_psf(sharp_big, blur.trajectory_psf(k, rng))[pad : pad + h, pad : pad + w]
        sharp = sharp_big[pad : pad + h, pad : pad + w]
    else:
        raise ValueError(f"unknown blur kind {kind!r}; choose from {BLUR_KINDS} or 'sharp'")
    if cfg.color_jitter > 0:
        blurred, sharp = color_jitter(blurred, sharp, rng, cfg.color_jitter)
    if rng.random() < cfg.degrade_fraction:
        blurred = blur.add_noise_and_compression(blurred, rng, noise_sigma=cfg.noise_sigma, jpeg_quality=cfg.jpeg_quality)
    return np.ascontiguousarray(blurred), np.ascontiguousarray(sharp), kind


def color_jitter(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """The same exposure, white-balance and saturation change on both images.

    Applied as one 3x3 matrix in linear light, which commutes with the (linear-light) blur,
    so the pair stays physically consistent.
    """
    gain = math.exp(rng.uniform(-strength, strength) * 3)  # exposure
    wb = np.exp(rng.uniform(-strength, strength, 3))  # white balance
    sat = 1 + rng.uniform(-strength, strength) * 3
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    m = (sat * np.eye(3) + (1 - sat) * np.outer(np.ones(3), luma)) * (gain * wb)[None, :]
    m = m.astype(np.float32)
    out = []
    for img in (a, b):
        lin = blur.srgb_to_linear(blur.to_float(img)) @ m.T
        out.append(blur.to_uint8(blur.linear_to_srgb(lin)))
    return out[0], out[1]


def augment_pair(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random flip and 90-degree turn on both images."""
    k = int(rng.integers(4))
    flip = rng.random() < 0.5
    out = []
    for img in (a, b):
        img = np.rot90(img, k)
        if flip:
            img = img[:, ::-1]
        out.append(np.ascontiguousarray(img))
    return out[0], out[1]


def to_tensor(imgs: Sequence[np.ndarray]) -> torch.Tensor:
    """A list of HxWx3 uint8 images -> (N, 3, H, W) float32 in [0, 1]."""
    arr = np.stack(imgs).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def from_tensor(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) float in [0, 1] -> (N, H, W, 3) uint8 with rounding."""
    return (x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


# --------------------------------------------------------------------------- on-the-fly batches


class SyntheticPairs:
    """Fresh synthetic training batches from photos; batch ``k`` depends only on (seed, k)."""

    def __init__(self, photos: Sequence[Photo], *, crop: int, batch_size: int, seed: int = 0, synth: SynthConfig = SynthConfig(), max_side: int = 2048) -> None:
        photos = [p for p in photos if p.split == "train"]
        if not photos:
            raise DataError("no training photos", "install the photo packages (streamdeblur-train make-data --help) or pass --photos DIR")
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
        raise InputNotFoundError(f"dataset root not found: {root}", "run `streamdeblur-train make-data --out ROOT` or pass a GoPro-layout folder")
    base = root / split
    if not base.is_dir():
        raise DataError(f"dataset {root} has no {split}/ folder", f"expected the GoPro layout {root}/{split}/SEQUENCE/{{blur,sharp}}/*.png")
    seqs: list[Sequence_] = []
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        bdir, sdir = seq / "blur", seq / "sharp"
        if not bdir.is_dir() or not sdir.is_dir():
            raise DataError(f"sequence {seq} lacks a blur/ or sharp/ folder", "each sequence needs both blur/ and sharp/ with the same file names")
        bl = sorted(p.name for p in bdir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        sh = sorted(p.name for p in sdir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if bl != sh:
            only_b = sorted(set(bl) - set(sh))[:3]
            only_s = sorted(set(sh) - set(bl))[:3]
            raise DataError(
                f"blur/ and sharp/ file lists differ in {seq} (only in blur: {only_b or 'none'}, only in sharp: {only_s or 'none'})",
                "every blurry frame needs a sharp frame of the same name",
            )
        if bl:
            seqs.append(Sequence_(seq.name, blur_kind(seq.name), tuple(str(bdir / n) for n in bl), tuple(str(sdir / n) for n in sh)))
    if not seqs:
        raise DataError(f"dataset {base} is empty (no SEQUENCE/blur/*.png pairs)", "run `streamdeblur-train make-data` or check the path")
    return seqs


class GoProPairs:
    """Pairs from a GoPro-layout folder; random crops, flips and turns for training."""

    def __init__(self, root: str | os.PathLike, split: str = "train", *, crop: int | None = None, batch_size: int = 1, seed: int = 0, max_frames: int | None = None) -> None:
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
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def describe(self) -> dict:
        return {"kind": "gopro", "root": str(self.root), "split": self.split, "pairs": len(self.pairs)}

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """(blurred, sharp, kind, sequence) of pair ``i``, uint8 RGB."""
        kind, seq, b, s = self.pairs[i]
        bi, si = read_image(b), read_image(s)
        if bi.shape != si.shape:
            raise DataError(f"{b} is {bi.shape[1]}x{bi.shape[0]} but its sharp frame {s} is {si.shape[1]}x{si.shape[0]}", "blurry and sharp frames must have the same size")
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
        y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
        return augment_pair(b[y : y + c, x : x + c], s[y : y + c, x : x + c], rng)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of random crops; depends only on (seed, step)."""
        rng = np.random.default_rng([self.seed, step])
        return _stack_pairs([self.sample(rng) for _ in range(self.batch_size)])

    def __getstate__(self) -> dict:
        return {k: (v if k != "_cache" else {}) for k, v in self.__dict__.items()}


class MixedPairs:
    """Real pairs and synthetic pairs in one batch: each crop is real with probability ``real_fraction``.

    Batch ``k`` depends only on ``(seed, k)``, as for the two sources alone.
    """

    def __init__(self, real: GoProPairs, synthetic: SyntheticPairs, real_fraction: float, *, batch_size: int, seed: int = 0) -> None:
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be within [0, 1], not {real_fraction}")
        self.real, self.synthetic, self.real_fraction = real, synthetic, real_fraction
        self.batch_size, self.seed = batch_size, seed

    def describe(self) -> dict:
        return {"kind": "mixed", "real_fraction": self.real_fraction, "real": self.real.describe(), "synthetic": self.synthetic.describe()}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step, 1])
        pairs = [(self.real if rng.random() < self.real_fraction else self.synthetic).sample(rng) for _ in range(self.batch_size)]
        return _stack_pairs(pairs)


# --------------------------------------------------------------------------- make-data


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
    photos = find_photos(cfg.packages, extra_dirs=[cfg.photos_dir] if cfg.photos_dir else (), allow_missing=cfg.allow_missing)
    if not photos:
        raise DataError("no photos found", apt_hint(PACKAGES))
    out = Path(cfg.out).expanduser()
    if out.exists() and any(out.iterdir()) and not cfg.overwrite:
        raise OutputExistsError(f"{out} exists and is not empty", "pass --overwrite or choose another --out")
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
                log.warning("skipping %s: %dx%d is too small for %dx%d frames without upsampling", photo.name, img.shape[1], img.shape[0], w, h)
            skipped.append(f"{kind}_{photo.name}")
            continue
        synth = SynthConfig(**{**asdict(synth), "scale": (lo, max(lo, synth.scale[1]))})
        if kind == "gopro":
            # one continuous clip, as a GoPro sequence is
            motion = rng.uniform(*synth.motion)
            scale = math.exp(rng.uniform(math.log(synth.scale[0]), math.log(synth.scale[1])))
            frames = blur.camera_video(img, (w, h), n, subframes=synth.subframes, motion=motion, seed=int(rng.integers(2**62)), scale=scale)
            for i, (b, s) in enumerate(frames):
                if rng.random() < synth.degrade_fraction:
                    b = blur.add_noise_and_compression(b, rng, noise_sigma=synth.noise_sigma, jpeg_quality=synth.jpeg_quality)
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
    tmp = out / "info.json.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, out / "info.json")
    if progress:
        progress(len(jobs), len(jobs), "done")
    return info

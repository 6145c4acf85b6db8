"""The sharp photographs the trainer makes its pairs from.

:func:`find_photos` lists the real photographs shipped by the Debian packages of ``PHOTO_SPECS``
(illustrations and duplicates left out), each tagged ``train`` or ``test``: the test
photos are never used for training, so validation measures generalisation.
:func:`photos_in_dir` adds a user's own folder of photos; :func:`load_photo` reads one.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from streamdeblur.errors import DataError, InputNotFoundError

from .images import IMAGE_EXTS, read_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoSpec:
    """One real photograph from a Debian package; ``pattern`` is a glob (the largest match wins)."""

    name: str
    package: str
    pattern: str
    split: str = "train"


_FOLDERS = {
    "BG": "/usr/share/backgrounds",
    "KDE": "/usr/share/wallpapers",
    "MATE": "/usr/share/backgrounds/mate/nature",
    "JXL": "/usr/share/libjxl-testdata",
}

# Curated by eye: photographs only (the packages also ship illustrations and gradients,
# which teach nothing about real blur). The ``test`` photos span the packages and
# subjects (landscape, macro, interior, architecture) and are never trained on.
# One photo a line: NAME PACKAGE PATTERN [test]; plasma-workspace-wallpapers ships
# per-resolution copies of each picture, of which the largest is taken.
_CATALOGUE = """
bridge         lomiri-wallpapers-16.04      {BG}/Bridge_by_Sander_Klootwijk.jpg
dragonfly      lomiri-wallpapers-16.04      {BG}/Dragonfly_by_Bolly.jpg
fig            lomiri-wallpapers-16.04      {BG}/Picture_0B_by_freespace.jpg
brushes        lomiri-wallpapers-16.04      {BG}/Picture_1A_by_freespace.jpg
wine           lomiri-wallpapers-16.04      {BG}/Wine_by_Jakkub_Mede.jpg  test
aitzgorri      lomiri-wallpapers-16.04      {BG}/aitzgorri_by_Aitzol_Berasategi.jpg
free           lomiri-wallpapers-16.04      {BG}/free_by_Peter_Nerlich.jpg
friends        lomiri-wallpapers-16.04      {BG}/friends_by_Aitzol_Berasategi.jpg
clock          lomiri-wallpapers-16.04      {BG}/greentock_by_Peter_Nerlich.jpg
life           lomiri-wallpapers-16.04      {BG}/life_by_Aitzol_Berasategi.jpg
picosdeeuropa  lomiri-wallpapers-16.04      {BG}/picosdeeuropa_by_Aitzol_Berasategi.jpg  test
seeding        lomiri-wallpapers-16.04      {BG}/seeding_by_Clements_Engelhardt.jpg
sunset         lomiri-wallpapers-16.04      {BG}/sunset_by_Aitzol_Berasategi.jpg
kleiber        lomiri-wallpapers-20.04      {BG}/Kleiber_by_Lukas_Baubkus.jpg
aqua           mate-backgrounds             {MATE}/Aqua.jpg
blinds         mate-backgrounds             {MATE}/Blinds.jpg
dune           mate-backgrounds             {MATE}/Dune.jpg
freshflower    mate-backgrounds             {MATE}/FreshFlower.jpg
garden         mate-backgrounds             {MATE}/Garden.jpg
greenmeadow    mate-backgrounds             {MATE}/GreenMeadow.jpg
ladybird       mate-backgrounds             {MATE}/LadyBird.jpg  test
raindrops      mate-backgrounds             {MATE}/RainDrops.jpg
storm          mate-backgrounds             {MATE}/Storm.jpg
twowings       mate-backgrounds             {MATE}/TwoWings.jpg
wood           mate-backgrounds             {MATE}/Wood.jpg
yellowflower   mate-backgrounds             {MATE}/YellowFlower.jpg
bythewater     plasma-workspace-wallpapers  {KDE}/BytheWater/contents/images/*
coldripple     plasma-workspace-wallpapers  {KDE}/ColdRipple/contents/images/*
colorfulcups   plasma-workspace-wallpapers  {KDE}/ColorfulCups/contents/images/*  test
darkesthour    plasma-workspace-wallpapers  {KDE}/DarkestHour/contents/images/*
eveningglow    plasma-workspace-wallpapers  {KDE}/EveningGlow/contents/images/*
fallenleaf     plasma-workspace-wallpapers  {KDE}/FallenLeaf/contents/images/*
grey           plasma-workspace-wallpapers  {KDE}/Grey/contents/images/*  test
kite           plasma-workspace-wallpapers  {KDE}/Kite/contents/images/*
onestandsout   plasma-workspace-wallpapers  {KDE}/OneStandsOut/contents/images/*
path           plasma-workspace-wallpapers  {KDE}/Path/contents/images/*
volna          plasma-workspace-wallpapers  {KDE}/Volna/contents/images/*
summer1am      plasma-workspace-wallpapers  {KDE}/summer_1am/contents/images/*
flower         libjxl-testdata              {JXL}/jxl/flower/flower.png  test
keongmacan     libjxl-testdata              {JXL}/external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png
riaphotographs libjxl-testdata              {JXL}/external/wesaturate/500px/tmshre_riaphotographs_srgb8.png
bliznaca       libjxl-testdata              {JXL}/external/wesaturate/500px/u76c0g_bliznaca_srgb8.png
"""


def _catalogue(text: str) -> tuple[PhotoSpec, ...]:
    specs = []
    for line in text.strip().splitlines():
        name, package, pattern, *split = line.split()
        specs.append(PhotoSpec(name, package, pattern.format(**_FOLDERS), *split))
    return tuple(specs)


PHOTO_SPECS: tuple[PhotoSpec, ...] = _catalogue(_CATALOGUE)
PACKAGES = tuple(dict.fromkeys(s.package for s in PHOTO_SPECS))


@dataclass(frozen=True)
class Photo:
    """A photograph found here: a catalogue entry or an image of a user's folder (``package`` is then the folder)."""

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


def load_photo(photo: Photo, max_side: int = 2048) -> np.ndarray:
    """Read a photo and shrink it (area filter) to at most ``max_side``: sharper per pixel, less memory."""
    img = read_image(photo.path)
    h, w = img.shape[:2]
    s = max_side / max(h, w)
    if s < 1:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img

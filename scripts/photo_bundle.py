"""Pack the training photos into one small folder that can travel to a machine without them.

    python scripts/photo_bundle.py .gpu/photos
    # then: streamdeblur-train train --package none --photos .gpu/photos ...

A GPU machine here has none of the Debian photo packages and cannot install them, and what
travels to it is limited (64 MiB). This writes every curated photo of ``find_photos()``,
shrunk as the trainer shrinks it (area filter, longest side 2048 px), as JPEG, into
``OUT/train/NAME.jpg`` and ``OUT/test/NAME.jpg``: the same held-out split, so validation
there scores the same photos. (JPEG at quality 95 on top of the packages' own JPEGs: close
to, not bit-identical with, the pixels the trainer reads here.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from streamdeblur.errors import InputError
from trainer.images import write_image
from trainer.photos import find_photos, load_photo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write (train/ and test/ inside)")
    ap.add_argument("--max-side", type=int, default=2048, help="longest side in pixels (the trainer's own limit)")
    ap.add_argument("--quality", type=int, default=95, help="JPEG quality")
    args = ap.parse_args(argv)
    photos = find_photos()
    total = 0
    for p in photos:
        img = load_photo(p, args.max_side)
        dest = args.out / p.split / f"{p.name}.jpg"
        try:
            write_image(dest, img, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        except InputError as e:
            print(f"photo_bundle: error: {e}", file=sys.stderr)
            return 2
        total += dest.stat().st_size
    n_test = sum(p.split == "test" for p in photos)
    print(f"wrote {len(photos) - n_test} training and {n_test} held-out photos to {args.out} ({total / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``streamdeblur-train``: make-data, calibrate, train, eval, pool-eval, video-psnr,
side-by-side, export. The commands live in :mod:`trainer.commands` (the only trainer modules that
print); this module registers them and runs the app."""

from __future__ import annotations

from .commands.common import PROG, app

# each module registers its commands on the app; the import order is --help's order
# isort: off
from .commands import data, train, score, export  # noqa: F401
# isort: on


def main() -> None:
    app(prog_name=PROG)


if __name__ == "__main__":
    main()

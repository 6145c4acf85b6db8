"""The batch tests write their clips with the video tests' helpers (tests/video/videofiles.py,
imported by name as pytest imports the video folder's own): that folder goes on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

_VIDEO_TESTS = str(Path(__file__).resolve().parents[1] / "video")
if _VIDEO_TESTS not in sys.path:
    sys.path.insert(0, _VIDEO_TESTS)

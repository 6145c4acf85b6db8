"""Video sources (file, URL, camera) and sinks (file, preview, null).

OpenCV is imported here, before anything in the package imports PyAV: both wheels bundle
their own libxcb, and when PyAV's is loaded first OpenCV's Qt window (``preview``)
hangs in ``cv2.namedWindow``. ``CV2_BEFORE_AV`` records whether this process got the
safe order, so the preview window can refuse with a clear message instead of hanging.
"""

import sys as _sys

CV2_BEFORE_AV: bool = "cv2" in _sys.modules or "av" not in _sys.modules

import cv2 as _cv2  # noqa: E402,F401  (see above: must precede `import av`)

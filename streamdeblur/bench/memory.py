"""Peak host memory of this process over a measurement (:class:`HostPeak`): ``VmHWM``
after a reset through /proc/self/clear_refs (Linux), else ``VmRSS`` sampled every 5 ms,
else ``ru_maxrss`` (the peak over the process's life)."""

from __future__ import annotations

import threading


class HostPeak:
    """Peak resident memory of this process between ``start()`` and ``stop()`` (MiB)."""

    def __init__(self) -> None:
        self.method = self._probe()
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _status(key: str) -> int | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    @classmethod
    def _probe(cls) -> str:
        if cls._status("VmHWM") is None:
            return "ru_maxrss (process lifetime peak)"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return "VmHWM after reset via /proc/self/clear_refs"
        except OSError:
            return "VmRSS sampled every 5 ms"

    def start(self) -> None:
        if self.method.startswith("VmHWM"):
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        elif self.method.startswith("VmRSS"):
            self._peak = self._status("VmRSS") or 0
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, name="streamdeblur-bench-rss", daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._status("VmRSS") or 0)

    def stop(self) -> float:
        if self.method.startswith("VmHWM"):
            peak = self._status("VmHWM") or 0
        elif self.method.startswith("VmRSS"):
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            peak = max(self._peak, self._status("VmRSS") or 0)
        else:
            import resource
            import sys

            r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = r if sys.platform == "darwin" else r * 1024
        return peak / 2**20

"""streamdeblur.batch.worker.Worker: the backend it opens for a share of a machine's cores, and a
bad input as a failed result."""

from __future__ import annotations

import pytest

from streamdeblur.api import RunOptions
from streamdeblur.batch.tasks import FileTask
from streamdeblur.batch.worker import Worker


def test_a_worker_with_a_share_of_the_cores_does_not_pin_openvino_threads(tiny_weights):
    """Two 1-thread OpenVINO workers on one machine would both pin to the first core (measured:
    6 fps each instead of 11); a worker given --cpus-per-worker turns the pinning off."""
    pytest.importorskip("openvino")
    w = Worker(RunOptions(backend="openvino", weights=str(tiny_weights)), threads=1)
    try:
        w.setup()
        assert w.backend.config["INFERENCE_NUM_THREADS"] == 1 and w.backend.config["ENABLE_CPU_PINNING"] is False
    finally:
        w.close()
    here = Worker(RunOptions(backend="openvino", weights=str(tiny_weights)))  # one process alone: OpenVINO's defaults
    try:
        here.setup()
        assert "ENABLE_CPU_PINNING" not in here.backend.config
    finally:
        here.close()


def test_a_task_on_a_bad_input_is_a_failed_result_not_an_exception(tmp_path, tiny_weights):
    bad = tmp_path / "bad.mkv"
    bad.write_text("not a video")
    w = Worker(RunOptions(backend="torch", weights=str(tiny_weights)))
    try:
        info = w.setup()
        res = w.run(FileTask(id=1, item=0, input=str(bad), output=str(tmp_path / "out.mkv"), overwrite=False))
    finally:
        w.close()
    assert info.backend == "torch" and res.status == "failed" and "not a video" in res.error
    assert res.task == 1 and res.backend == "torch" and res.seconds >= 0
    assert not (tmp_path / "out.mkv").exists()

"""What settings made each output of a batch run, so that a re-run with other ones does not take
an output made with the old ones as done.

A re-run skips an output that is complete (as many frames as its input). Without a record, an
output made with other weights (a new release's model, ``--weights``), another ``--crf`` or
``--codec``, or from an input since replaced, would be skipped as well, and the user would get the
old pictures under a summary that says all is well. So when a batch run finishes an output, this
process (the one that schedules, never a worker: one writer, a cluster's nodes included) records
the settings it was made with; the next run compares and reports an output made otherwise as
``failed``, naming what changed and leaving the file as it is, until ``--overwrite``.

The records are in the cache folder (``$STREAMDEBLUR_CACHE_DIR`` or ``~/.cache/streamdeblur``,
``outputs/``), one small JSON file per output path, never beside the outputs: an output folder
holds the outputs and nothing else. An output with no record (made by hand, by another machine, by
a version before records, or a copy of the input put there) is not taken as done either: it is
reported as failed, saying so, until ``--overwrite`` (or ``-o`` another folder). Only where no
record can be written (a cache folder that cannot be) is an output judged by its frames alone.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..api import RunOptions

log = logging.getLogger(__name__)

#: options that change how a run goes, not the file it writes
RUN_ONLY = ("overwrite", "timeout", "reconnect", "realtime", "batch", "encoder_threads", "format", "window")
BACKEND_RUN_ONLY = ("threads", "openvino_hint", "openvino_max_shapes", "openvino_cpu_pinning", "engines_dir")
#: how a changed setting is named to the user (else ``--`` and the option's name)
NAMES = {"input": "the input file's size or time", "model": "the model's weights"}


def file_stat(path: str | os.PathLike[str] | None) -> os.stat_result | None:
    """``os.stat(path)``, or None for no path or one that cannot be read."""
    if path is None:
        return None
    try:
        return os.stat(path)
    except OSError:
        return None


def _digest(path: str | os.PathLike[str] | None) -> str | None:
    """The file's sha256 (each file read once a process, while its size and time stay the same)."""
    st = file_stat(path)
    return None if st is None or path is None else _sha256(os.path.abspath(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def shaping_options(options: RunOptions, run_only: tuple[str, ...] = RUN_ONLY) -> tuple[dict, dict]:
    """``options`` and its backend options as dicts, less those in ``run_only`` and BACKEND_RUN_ONLY."""
    opts = dataclasses.asdict(options)
    backend = opts.pop("backend_options")
    for k in run_only:
        opts.pop(k, None)
    for k in BACKEND_RUN_ONLY:
        backend.pop(k, None)
    return opts, backend


def settings(input: str | os.PathLike[str], options: RunOptions) -> dict[str, Any]:
    """What an output of ``input`` made with ``options`` depends on, as JSON values: the input file
    (its size and modification time), the model's bytes (or the engine's), and every option that shapes
    the pictures or their encoding."""
    from ..models import shipped_weights

    opts, backend = shaping_options(options)
    weights = opts.pop("weights")
    engine = backend.pop("engine", None)
    st = file_stat(input)
    source = None if st is None else [st.st_size, st.st_mtime_ns]
    key = {"input": source, "model": _digest(engine) if engine else _digest(weights or shipped_weights())}
    key |= {k: v for k, v in opts.items() if k not in key} | {k: v for k, v in backend.items() if k not in opts}
    return json.loads(json.dumps(key, default=str))  # as it reads back from the file


def record_path(output: str | os.PathLike[str]) -> Path:
    from ..onnx_export import cache_dir

    name = hashlib.sha256(os.path.abspath(output).encode()).hexdigest()[:32]
    return cache_dir() / "outputs" / f"{name}.json"


_unwritable: list[str] = []


def _cannot_record() -> bool:
    """Whether no record can be written here (the cache folder, or the nearest folder above it that exists)."""
    from ..fileio import cannot_create_in

    near = record_path("x").parent
    while not near.exists() and near != near.parent:
        near = near.parent
    return not near.is_dir() or cannot_create_in(near) is not None


def write(output: str | os.PathLike[str], made_with: dict[str, Any], *, warn: bool = True) -> None:
    """Record what ``output`` was made with (a record that cannot be written is a warning, unless not
    ``warn``: the output is there all the same)."""
    from ..fileio import write_atomic

    path = record_path(output)
    data = {"output": os.path.abspath(output), "settings": made_with}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=1).encode(), replace=True)
    except OSError as e:
        if _unwritable or not warn:  # said once a run, not once an output
            return
        _unwritable.append(str(path.parent))
        log.warning(
            "could not record what %s was made with (%s; set STREAMDEBLUR_CACHE_DIR to a writable folder): "
            "a re-run will judge the outputs by their frames alone",
            output,
            e,
        )


#: what :func:`changed` says of an output with no record: nothing says this run's settings made it
NO_RECORD = "no record of what made it"


def changed(output: str | os.PathLike[str], made_with: dict[str, Any]) -> list[str]:
    """What differs between the settings ``output`` was recorded as made with and ``made_with``, as the
    user names them (``--crf``, ``the model ...``); empty when the same; ``[NO_RECORD]`` when there is no
    record (empty where none could have been written: the cache folder is not writable)."""
    try:
        data = json.loads(record_path(output).read_text())
        old = data["settings"] if data.get("output") == os.path.abspath(output) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        old = None
    if not isinstance(old, dict):
        return [] if _cannot_record() else [NO_RECORD]
    keys = [*made_with, *(k for k in old if k not in made_with)]
    return [NAMES.get(k, "--" + k.replace("_", "-")) for k in keys if old.get(k) != made_with.get(k)]

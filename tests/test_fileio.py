"""streamdeblur.fileio.publish: the one way a finished file is moved into place."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from streamdeblur import fileio


def _tmp(folder: Path, text: str, name: str | None = None) -> Path:
    p = folder / f".{name or text}.tmp"
    p.write_text(text)
    return p


@pytest.mark.parametrize("how", ["publish", "rename_noreplace", "link_noreplace"])
def test_never_replaces_an_existing_file(tmp_path, how):
    final = tmp_path / "out.mp4"
    final.write_text("theirs")
    tmp = _tmp(tmp_path, "mine")
    fn = {
        "publish": fileio.publish,
        "rename_noreplace": fileio.rename_noreplace,
        "link_noreplace": fileio.link_noreplace,
    }[how]
    if how == "rename_noreplace" and fileio._renameat2 is None:
        pytest.skip("no renameat2 in this C library")
    with pytest.raises(FileExistsError):
        fn(tmp, final)
    assert final.read_text() == "theirs" and tmp.read_text() == "mine"
    # and to a free name it moves the file (no second name left behind)
    free = tmp_path / "free.mp4"
    assert fn(tmp, free)
    assert free.read_text() == "mine" and not tmp.exists()


def test_replace_only_when_asked(tmp_path):
    final = tmp_path / "out.mp4"
    final.write_text("old")
    fileio.publish(_tmp(tmp_path, "new"), final, replace=True)
    assert final.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_publish_free_picks_the_next_free_name(tmp_path):
    wanted = tmp_path / "out.partial.mkv"
    wanted.write_text("first")
    (tmp_path / "out.partial.2.mkv").write_text("second")
    got = fileio.publish_free(_tmp(tmp_path, "third"), wanted)
    assert got == tmp_path / "out.partial.3.mkv" and got.read_text() == "third"
    assert wanted.read_text() == "first"


def test_racing_publishers_exactly_one_wins(tmp_path):
    """Eight threads publish to one name at once: one succeeds, seven are refused, and the
    file is the winner's whole."""
    final = tmp_path / "out.bin"
    tmps = [_tmp(tmp_path, f"writer{i}" * 1000, f"writer{i}") for i in range(8)]
    go = threading.Barrier(len(tmps))
    won, refused = [], []

    def run(t: Path) -> None:
        go.wait()
        try:
            fileio.publish(t, final)
            won.append(t)
        except FileExistsError:
            refused.append(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in tmps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    assert final.read_text() == won[0].name[1:-4] * 1000 and not won[0].exists()
    assert all(t.exists() for t in refused)


def test_write_atomic_mode_and_no_replace(tmp_path):
    p = tmp_path / "a" / "engine.bin"
    fileio.write_atomic(p, b"one")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(FileExistsError):
        fileio.write_atomic(p, b"two")
    assert p.read_bytes() == b"one" and os.listdir(p.parent) == ["engine.bin"]
    fileio.write_atomic(p, b"three", replace=True)
    assert p.read_bytes() == b"three"


def test_preview_snapshots_never_replace_each_other(tmp_path):
    import numpy as np

    from streamdeblur.video.compose import save_png

    got = {save_png(np.full((4, 4, 3), i, np.uint8), tmp_path) for i in range(3)}
    assert len(got) == 3 and sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in got)


def test_a_snapshot_into_a_folder_that_is_a_file_is_one_error_not_a_hang(tmp_path):
    """save_png into a --snapshot-dir that is a file retried new names for ever (mkdir's FileExistsError
    read as a name taken meanwhile)."""
    import numpy as np

    from streamdeblur.errors import OutputError
    from streamdeblur.video.compose import save_png

    (tmp_path / "snaps").write_text("not a folder")
    with pytest.raises(OutputError, match="snaps"):
        save_png(np.zeros((4, 4, 3), np.uint8), tmp_path / "snaps")

"""Small file helpers shared by every writer of outputs, engines and weights.

One rule for publishing a finished file: it is written under a temporary name beside
its destination, synced, then moved into place in one step by :func:`publish`, which by
default never replaces a file already there, even one that appeared while the work was
being done (another run writing the same output): a no-replace rename (Linux
``renameat2(RENAME_NOREPLACE)``) or, where that is missing, a hard link and an unlink.
Only with ``replace=True`` (``--overwrite``, or a content-addressed cache) is an existing
file replaced, atomically.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

#: errors that mean "this mechanism is not available here", not "the name is taken"
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def set_ordinary_mode(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a plain ``open(path, "w")`` would: 0666 less the umask.

    Temporary files (``mkstemp``, safetensors) start as 0600; a result renamed into place
    should be an ordinary, shareable file.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _libc_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _libc_renameat2()


def rename_noreplace(src: str | os.PathLike, dst: str | os.PathLike) -> bool:
    """``renameat2(src, dst, RENAME_NOREPLACE)``: True if done; False where the system or
    file system does not offer it; FileExistsError if ``dst`` exists."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        raise FileExistsError(err, os.strerror(err), str(dst))
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(dst))


def link_noreplace(src: str | os.PathLike, dst: str | os.PathLike) -> bool:
    """Hard-link ``src`` as ``dst`` (never replaces) and unlink ``src``: True if done; False
    where the file system has no hard links; FileExistsError if ``dst`` exists."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno in _UNSUPPORTED:
            return False
        raise
    os.unlink(src)
    return True


def publish(tmp: str | os.PathLike, final: str | os.PathLike, *, replace: bool = False) -> Path:
    """Move the finished file ``tmp`` to ``final`` (same folder) in one step.

    ``replace=False``: never replaces an existing ``final``, however recent; raises
    :class:`FileExistsError` and leaves ``tmp`` where it is. ``replace=True``: replaces
    it atomically (``os.replace``). The folder is synced afterwards, so the new name
    survives a crash.
    """
    final = Path(final)
    if replace:
        os.replace(tmp, final)
    elif not (rename_noreplace(tmp, final) or link_noreplace(tmp, final)):
        # neither mechanism exists here (rare file systems): check, then rename; only a
        # writer racing within this instant can still be replaced
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final))
        os.rename(tmp, final)
    fsync_dir(final.parent)
    return final


def publish_free(tmp: str | os.PathLike, wanted: str | os.PathLike, *, first: int = 2, tries: int = 999) -> Path:
    """Publish ``tmp`` under ``wanted``, or, if that name is taken, under the first free
    ``STEM.N.EXT`` (N from ``first``); never replaces anything. Returns the name used."""
    wanted = Path(wanted)
    try:
        return publish(tmp, wanted)
    except FileExistsError:
        pass
    for n in range(first, first + tries):
        try:
            return publish(tmp, wanted.with_name(f"{wanted.stem}.{n}{wanted.suffix}"))
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free name like {wanted.stem}.N{wanted.suffix}", str(wanted))


def _host() -> str:
    """This machine's short name, as temporary names carry it (letters, digits and '-' only)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


def temp_name(path: str | os.PathLike) -> Path:
    """The hidden temporary name a writer of ``path`` uses: ``.STEM.HOST.PID.tmpEXT`` beside it. The
    host and process id let a later run tell a temporary whose writer was killed (SIGKILL, a lost Ray
    worker) from one still being written: :func:`remove_stale_temporaries`."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{_host()}.{os.getpid()}.tmp{path.suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _temporaries(path: Path) -> Iterator[tuple[Path, str | None, int]]:
    """The temporaries of ``path`` beside it (:func:`temp_name`'s, or ``mkstemp``'s of :func:`writing`), each
    as (file, its writer's host or None, its writer's pid)."""
    folder = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(
        rf"^\.{re.escape(path.stem)}\.(?:(?P<host>[A-Za-z0-9-]+)\.)?(?P<pid>\d+)\.(?:\w+\.)?tmp{re.escape(path.suffix)}$"
    )
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if (m := pattern.match(name)) is not None:
            yield folder / name, m["host"], int(m["pid"])


def _unlink(files: Iterable[Path]) -> list[Path]:
    removed = []
    for f in files:
        with contextlib.suppress(FileNotFoundError):
            if f.is_dir() and not f.is_symlink():  # an HLS or DASH output's temporary folder (video.adaptive)
                shutil.rmtree(f)
            else:
                os.unlink(f)
            removed.append(f)
    return removed


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` (:func:`temp_name`, or ``mkstemp``'s of :func:`writing`) left by
    a process of this machine that is gone (killed before it could clean up); returns those removed.
    One whose process still runs, or of another machine (a shared folder), is left alone."""
    host = _host()
    return _unlink(f for f, h, pid in _temporaries(Path(path)) if h in (None, host) and not _pid_alive(pid))


def remove_temporaries_of(path: str | os.PathLike, host: str, pid: int) -> list[Path]:
    """Remove the temporaries of ``path`` written by process ``pid`` of machine ``host``, known to be dead
    (a Ray worker the cluster reported lost, on whatever node it ran: the output folder is shared)."""
    mark = re.sub(r"[^A-Za-z0-9-]", "-", host.split(".")[0]) or "host"  # as temp_name writes it
    return _unlink(f for f, h, p in _temporaries(Path(path)) if h == mark and p == pid)


#: what a side file (a report, a plot) replaces without asking: one of its own kind from an earlier run,
#: told by its first bytes; anything else there (a video, the input) is refused, never overwritten
SIDE_KINDS: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "json": ("a JSON file", (b"{", b"[")),
    "progress": ("a progress report", (b"frame=",)),
    "picture": ("a picture", (b"\x89PNG", b"\xff\xd8", b"%PDF", b"<?xml", b"<svg", b"%!PS")),
}


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two names are one file: the same absolute path, or (both there) the same file by a link."""
    pa, pb = Path(a), Path(b)
    if pa.resolve() == pb.resolve():
        return True
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return False


def check_writable(
    path: str | os.PathLike,
    option: str,
    example: str = "out.json",
    *,
    kind: str | None = None,
    not_these: Iterable[str | os.PathLike] = (),
) -> None:
    """Before a long job: can a result be written at ``path`` (the folders to it made as
    :func:`write_atomic` makes them)? A folder there, a file where a folder should be, or a
    read-only or virtual file system (/proc, /sys) fails here, in one line naming ``option``,
    not after the work. So does a path that is one of ``not_these`` (the run's input or output:
    ``--report clip.mp4`` replaced the video), or, with ``kind`` (:data:`SIDE_KINDS`), an existing
    file that is not of that kind. Nothing is left behind."""
    from .errors import OutputError

    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder", f"give a file name such as {example}")
    for other in not_these:
        if same_path(path, other):
            raise OutputError(
                f"{option} {path} is also this run's input or output; it would be replaced",
                f"give {option} another file such as {example}",
            )
    if kind is not None and path.is_file():
        name, starts = SIDE_KINDS[kind]
        try:
            with open(path, "rb") as f:
                head = f.read(64).lstrip()
        except OSError:
            head = b""
        if head and not head.startswith(starts):
            raise OutputError(
                f"{option} {path} exists and is not {name}; it would be replaced",
                f"give {option} another file such as {example}, or remove it first",
            )
    near = path.parent
    while not near.exists() and near != near.parent:  # the folders writing it would make
        near = near.parent
    if not near.is_dir():
        raise OutputError(f"cannot write {path}: {near} is not a folder", f"give {option} a writable place")
    if (e := cannot_create_in(near)) is not None:
        raise OutputError(f"cannot write {path} ({e.strerror or e})", f"give {option} a writable place")


def cannot_create_in(folder: str | os.PathLike) -> OSError | None:
    """Why a file cannot be made in ``folder``, found by making one (removed at once), or None. Permission
    bits say yes to root everywhere, and to anyone on a read-only mount or in /proc and /sys."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return e
    return None


def write_fix(e: OSError) -> str:
    """What to do about an output that could not be written, from its error: a full disk is not a
    permission."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "free some disk space, or choose another folder"
    return "choose another folder, or fix its permissions"


def write_atomic(path: str | os.PathLike, data: bytes, *, replace: bool = False) -> Path:
    """Write ``data`` to ``path`` through a synced temporary file and :func:`publish`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        set_ordinary_mode(tmp)  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return publish(tmp, path, replace=replace)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def writing(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary name next to ``path`` for a writer that wants a path (``torch.save``,
    ``savefig``, an encoder); on success it is synced and :func:`publish`-ed as ``path``
    (``replace`` as there), on any error or signal removed. The one temp-and-rename helper."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.{_host()}.{os.getpid()}.", suffix=f".tmp{path.suffix}"
    )
    os.close(fd)
    try:
        set_ordinary_mode(tmp)
        yield Path(tmp)
        fsync_file(tmp)
        publish(tmp, path, replace=replace)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def fsync_file(path: str | os.PathLike) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(folder: str | os.PathLike) -> None:
    """Sync a folder, so a rename in it is on disk (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)

"""Small file helpers shared by the writers of engines and weights."""

from __future__ import annotations

import os


def set_ordinary_mode(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a plain ``open(path, "w")`` would: 0666 less the umask.

    Temporary files (``mkstemp``, safetensors) start as 0600; a result renamed into place
    should be an ordinary, shareable file.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)

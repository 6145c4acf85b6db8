"""Secrets kept out of what the command lines print and log.

An IP camera's URL carries its password (``rtsp://admin:PASSWORD@cam/stream``) and an SRT or
signed URL a passphrase or token in its query (``srt://host:9000?passphrase=...``): FFmpeg
prints them whole, we do not. :func:`redact` hides them in any line of text, wherever it came
from (an error, a warning, a log record, the start and done lines); the URL itself is used as
given.
"""

from __future__ import annotations

import re

#: ``scheme://user:password@`` -> ``scheme://user:***@``
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+):[^/\s@]*@")
#: query parameters that hold a secret: ``?passphrase=...``, ``&token=...``
_QUERY = re.compile(
    r"([?&](?:passphrase|password|passwd|pwd|pass|token|secret|auth|key|signature|sig)=)[^&\s#;,):]*", re.IGNORECASE
)


def redact(text: str) -> str:
    """``text`` with the passwords, passphrases and tokens of the URLs in it shown as ``***``."""
    return _QUERY.sub(r"\1***", _USERINFO.sub(r"\1:***@", text))

"""Secrets kept out of what the command lines print and log.

An IP camera's URL carries its password (``rtsp://admin:PASSWORD@cam/stream``) and an SRT or
signed URL a passphrase or token in its query (``srt://host:9000?passphrase=...``): FFmpeg
prints them whole, we do not. :func:`redact` hides them in any line of text, wherever it came
from (an error, a warning, a log record, the start and done lines); the URL itself is used as
given. An RTMP service's stream key is the last part of its path
(``rtmp://a.rtmp.youtube.com/live2/KEY``, ``rtmps://...facebook.com/rtmp/KEY``; whoever has it can
go live on the channel, which is why OBS never shows it): a last part of 12 characters or more
(YouTube's, Twitch's and Facebook's keys are 20 and longer) is hidden too, and a short name
(``rtmp://server/live/cam1``) shown.
"""

from __future__ import annotations

import re

#: ``scheme://user:password@`` -> ``scheme://user:***@``
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+):[^/\s@]*@")
#: query parameters that hold a secret: ``?passphrase=...``, ``&token=...``
_QUERY = re.compile(
    r"([?&](?:passphrase|password|passwd|pwd|pass|token|secret|auth|key|signature|sig)=)[^&\s#;,):]*", re.IGNORECASE
)
#: ``rtmp://host/app/KEY`` (``rtmps``, ``rtmpt`` ...) -> ``rtmp://host/app/***``, for a KEY of 12+ characters
_STREAM_KEY = re.compile(r"(rtmp[est]*://[^/\s]+/(?:[^/\s?#]+/)+)[^/\s?#:;,)]{12,}", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the passwords, passphrases, tokens and stream keys of the URLs in it shown as ``***``."""
    return _STREAM_KEY.sub(r"\1***", _QUERY.sub(r"\1***", _USERINFO.sub(r"\1:***@", text)))

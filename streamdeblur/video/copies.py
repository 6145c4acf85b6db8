"""Which of the input's other streams (audio, subtitle, data, attachment) go into the
output, and adding them to the output container.

Every stream to be copied is tried against the output's container before the first frame
(:func:`check_copies`: a few of its real packets muxed into a throw-away in-memory file of
that format, header to trailer), so a stream the container cannot hold is found before
any work, not when the file is finished: audio is then encoded again with the container's
audio codec, as FFmpeg does (:mod:`.audio`, one warning naming the container that would keep
it untouched); the others are left out with a warning.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
import av.logging
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.stream import Stream

from ..errors import OutputError
from . import timecode
from .audio import AUDIO_MODES, AudioPlan, AudioReencoder, add_audio_stream, plan_audio
from .audio import trial as audio_trial
from .containers import ALTERNATIVES, CONTAINERS, format_options, muxer, trial_file
from .sources import FileSource
from .subtitles import SHOWN, SubtitleConverter, add_subtitle_stream, plan_subtitle
from .subtitles import trial as subtitle_trial

log = logging.getLogger(__name__)


def codec_name(stream: Stream) -> str:
    """The codec as a user would look it up (ffprobe's name): ``pcm_s24le``, ``mp3``; ``bin_data`` for a data
    stream; the file name and MIME type of an attachment."""
    if stream.type == "attachment":
        return f"{getattr(stream, 'name', None) or 'unnamed'}, {getattr(stream, 'mimetype', None) or 'no MIME type'}"
    cc = getattr(stream, "codec_context", None)
    if cc is not None and cc.name:
        # the codec's own name, as ffprobe says it (mp3, subrip), not its decoder's (mp3float, srt)
        return getattr(cc.codec, "canonical_name", None) or cc.name
    return getattr(stream, "name", None) or "unknown codec"  # data streams have no codec context


class Reencoder(Protocol):
    """Turns the input stream's packets into the output stream's: :class:`.audio.AudioReencoder`,
    :class:`.subtitles.SubtitleConverter`."""

    def encode(self, packet: Packet) -> list[Packet]: ...

    def flush(self) -> list[Packet]: ...


@dataclass
class Copies:
    """The input streams that go into the output (:func:`check_copies`): ``streams``, of which those
    in ``encode`` are encoded again, the container cannot hold them as they are (audio: its
    :class:`.audio.AudioPlan`; a text subtitle: the subtitle encoder)."""

    streams: list[Stream] = field(default_factory=list)
    encode: dict[int, AudioPlan | str] = field(default_factory=dict)


def add_copies(container: OutputContainer, copies: Copies, output_name: str) -> dict[int, Stream]:
    """Add an output stream for each of ``copies`` (as :func:`check_copies` chose them) to
    ``container``; returns input stream index -> output stream. Audio that cannot be added
    is an :class:`OutputError`; another stream is left out with a warning."""
    added: dict[int, Stream] = {}
    for s in copies.streams:
        try:
            plan = copies.encode.get(s.index)
            if isinstance(plan, AudioPlan):
                added[s.index] = add_audio_stream(container, s, plan)
            elif plan is not None:
                added[s.index] = add_subtitle_stream(container, s, plan)
            else:
                added[s.index] = container.add_stream_from_template(s)
        except (av.error.FFmpegError, ValueError) as e:
            if s.type == "audio":
                raise OutputError(
                    f"the input's audio stream #{s.index} ({codec_name(s)}) cannot be copied into {output_name}: {e}",
                    "write .mkv instead",
                ) from None
            log.warning("%s stream #%d (%s) cannot be copied: %s; it is left out", s.type, s.index, codec_name(s), e)
    return added


def reencoders(copies: Copies, added: dict[int, Stream], *, from_zero: bool = False) -> dict[int, Reencoder]:
    """Input stream index -> what turns its packets into ``added``'s, for the streams encoded again
    (``from_zero``: the output plays every stream from 0, AVI: :class:`.audio.AudioReencoder`'s)."""
    made: dict[int, Reencoder] = {}
    for i in copies.encode:
        out = added.get(i)
        if isinstance(out, AudioStream):
            made[i] = AudioReencoder(out, from_zero=from_zero)
        elif out is not None:
            made[i] = SubtitleConverter(out)
    return made


#: container tags a muxer writes for itself: copied, they would name the input's muxer or brand
_MUXER_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder")
#: stream tags that describe how the input's stream was stored, wrong for one encoded again and left
#: to the muxer for one copied (Matroska's per-track statistics, the encoder and vendor, the old
#: rotation tag: rotation is carried as a display matrix)
_ENCODING_TAGS = ("duration", "bps", "number_of_frames", "number_of_bytes", "_statistics_", "encoder", "vendor_id",
                  "rotate")  # fmt: skip


_D = av.stream.Disposition
#: what a stream is for, as players choose by it (the default track, forced subtitles, commentary, audio
#: description ...): kept, as FFmpeg keeps it; never what describes how it was stored (cover art, thumbnails)
_KEPT_DISPOSITIONS = (
    _D.default | _D.dub | _D.original | _D.comment | _D.lyrics | _D.karaoke | _D.forced | _D.hearing_impaired
    | _D.visual_impaired | _D.clean_effects | _D.non_diegetic | _D.captions | _D.descriptions | _D.metadata
)  # fmt: skip


def _tags(meta: dict[str, str], leave_out: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in (meta or {}).items() if not k.lower().startswith(leave_out)}


def copy_metadata(
    source: InputContainer,
    out: OutputContainer,
    streams: list[tuple[Stream, Stream]],
    *,
    part: tuple[float | None, float | None] = (None, None),
    rate: Fraction | None = None,
    skipped: int | None = None,
) -> None:
    """Carry what FFmpeg carries by default: the file's tags (title, creation_time, a phone's GPS
    location ...), each stream's tags (language, title, handler) and disposition (default, forced,
    commentary ...) onto its output stream (the first pair is the video), the timecode and the
    chapters; never the tags that describe the input's encoding.

    ``part`` (start, duration in seconds, as ``--start``/``--duration``): the output is that part
    of the input, so the chapters are moved and cut to it, and the timecode (at ``rate`` frames a
    second) begins at the part's first frame: ``skipped`` frames on (the video's frames before it, where the
    source knows them), else as many as the part's start holds."""
    start, duration = part
    if skipped is None:
        skipped = timecode.frames_from(start, rate)
    out.metadata.update(_timecode_moved(_tags(source.metadata, _MUXER_TAGS), skipped, rate))
    for s_in, s_out in streams:
        tags = _tags(s_in.metadata, _ENCODING_TAGS)
        if "name" in tags and "title" not in tags:  # MP4/MOV read a track's name as "name", write it from "title"
            tags["title"] = tags.pop("name")
        s_out.metadata.update(_timecode_moved(tags, skipped, rate))
        s_out.disposition = s_in.disposition & _KEPT_DISPOSITIONS
    if streams and not any(k.lower() == "timecode" for k in streams[0][1].metadata):
        # a QuickTime tmcd track's timecode is the video's (MOV/MP4 write it back as a tmcd track)
        found = [v for s in source.streams for k, v in s.metadata.items() if k.lower() == "timecode"]
        if found:
            streams[0][1].metadata["timecode"] = timecode.shift(found[0], skipped, rate or Fraction(0))
    try:
        chapters = source.chapters()
    except (av.error.FFmpegError, ValueError):  # pragma: no cover - a demuxer with malformed chapters
        chapters = []
    chapters = _chapters_in(chapters, start or 0.0, duration)
    if chapters:
        out.set_chapters(chapters)


def _timecode_moved(tags: dict[str, str], frames: int, rate: Fraction | None) -> dict[str, str]:
    return {
        k: timecode.shift(v, frames, rate or Fraction(0)) if k.lower() == "timecode" else v for k, v in tags.items()
    }


def _chapters_in(chapters: list[dict], start: float, duration: float | None) -> list[dict]:
    """The chapters of the part from ``start`` lasting ``duration`` seconds (None: to the end),
    moved to start at 0 and cut to it; those wholly outside it left out."""
    if not start and duration is None:
        return chapters
    kept = []
    for ch in chapters:
        tb = Fraction(ch["time_base"])
        lo, hi = Fraction(start) / tb, (Fraction(start) + Fraction(duration)) / tb if duration is not None else None
        s, e = ch["start"], ch["end"]
        if e <= lo or (hi is not None and s >= hi):
            continue
        s, e = max(s, lo), min(e, hi) if hi is not None else e
        kept.append({**ch, "id": len(kept) + 1, "start": round(s - lo), "end": round(e - lo)})
    return kept


def _clone(p: Packet) -> Packet:
    """A fresh copy of a packet (muxing takes the one it is given)."""
    q = av.Packet(bytes(p))
    q.time_base = p.time_base
    q.pts, q.dts = p.pts, p.dts
    if p.duration:
        q.duration = p.duration
    q.is_keyframe = p.is_keyframe
    return q


#: muxers that write to the network or to many files, and the one that writes what they hold (RTSP: RTP; HLS:
#: MPEG-TS segments; DASH: fragmented MP4)
_TRIAL_FORMATS = {"rtsp": "rtp", "rtp_mpegts": "mpegts", "hls": "mpegts", "dash": "mp4"}


def _trial(fmt: str, stream: Stream, samples: list[Packet]) -> str | None:
    """Mux ``stream`` (and copies of its sample packets) into an in-memory ``fmt`` file, header to
    trailer, and read it back (:func:`.containers.trial_file`). None if it goes in; else FFmpeg's reason."""
    fmt = _TRIAL_FORMATS.get(fmt, fmt)

    def build(oc: OutputContainer) -> Iterator[Packet]:
        out = oc.add_stream_from_template(stream)

        def packets() -> Iterator[Packet]:
            for p in samples:
                q = _clone(p)
                q.stream = out
                yield q

        return packets()

    sound_or_words = stream.type in ("audio", "subtitle")
    reason = trial_file(
        fmt,
        build,
        kind=stream.type if sound_or_words else None,
        codec=stream.codec_context.name if sound_or_words else None,
        options=format_options(fmt),
    )
    decoder = stream.codec_context.name if sound_or_words else None
    if reason and decoder and codec_name(stream) != decoder:  # 'webm' format does not support 'mp3float' codec
        reason = reason.replace(f"'{decoder}'", f"'{codec_name(stream)}'")
    return reason


def _samples(
    source: FileSource, streams: list[Stream], per_stream: int = 3, budget_s: float = 1.0, max_packets: int = 3000
) -> dict[int, list[Packet]]:
    """The first few packets of each of ``streams``, from the input file opened a second
    time (the source itself must not move); none for a network stream."""
    got: dict[int, list[Packet]] = {s.index: [] for s in streams}
    want = [s.index for s in streams if s.type in ("audio", "subtitle", "data")]
    if not want or source.info.is_live or source.info.pipe:  # a pipe cannot be read twice
        return got
    try:
        c = av.open(source.spec, mode="r")
    except Exception:  # pragma: no cover - it opened a moment ago
        return got
    try:
        t0, n = time.monotonic(), 0
        for p in c.demux([c.streams[i] for i in want]):
            n += 1
            if p.dts is not None and p.size and len(got[p.stream.index]) < per_stream:
                got[p.stream.index].append(_clone(p))
            if all(len(got[i]) >= per_stream for i in want) or n >= max_packets or time.monotonic() - t0 > budget_s:
                break
    except Exception:
        log.debug("reading sample packets of %s failed", source.spec, exc_info=True)
    finally:
        c.close()
    return got


#: (input, warning) pairs already logged by this process: a segmented run's parts say it once
_SAID: set[tuple[str, str]] = set()


def warn_once(spec: str, note: str) -> None:
    """Log ``note`` about the input ``spec`` as a warning, unless this process already has."""
    if (spec, note) not in _SAID:
        _SAID.add((spec, note))
        log.warning(note)


def _say_other_video_left_out(source: FileSource) -> None:
    """One warning per video stream besides the one deblurred (a second camera angle, a preview
    track, cover art): it is not in the output, as FFmpeg's default choice of one video stream."""
    for v in source.container.streams.video:
        if v.index == source.stream.index:
            continue
        cover = bool(v.disposition & av.stream.Disposition.attached_pic)
        what = "cover art" if cover else f"{v.codec_context.width}x{v.codec_context.height}"
        warn_once(
            source.spec,
            f"video stream #{v.index} ({codec_name(v)}, {what}) is left out: streamdeblur deblurs one video "
            f"stream, #{source.stream.index}",
        )


def _chapter_tracks(source: FileSource) -> set[int]:
    """The streams of an MP4/MOV that are its chapters' text track: FFmpeg reads that track as a
    ``bin_data`` data stream beside the chapters it makes of it, so it is no stream to warn about."""
    c = source.container
    if not {"mov", "mp4"} & set(c.format.name.split(",")) or not c.chapters():
        return set()
    return {s.index for s in source.data_streams if codec_name(s) == "bin_data"}


def check_copies(source: FileSource, output: str | os.PathLike, audio: str | None = None) -> Copies:
    """The input streams (audio, subtitle, data, attachment) to copy into ``output``.

    Each is tried against the output's container with real packets before any work
    (see :func:`_trial`). Audio that does not go in is encoded again with the container's
    audio codec (:func:`.audio.plan_audio`, tried the same way) and says so in one warning
    naming a container that would keep it untouched; where no encoder here can make audio the
    container takes, it is an :class:`OutputError` naming the stream, its codec, FFmpeg's
    reason and a container that takes it. A subtitle, data or attachment stream that does
    not go in is left out with a warning saying which container would keep it.

    ``audio`` (``--audio``): None or ``copy`` as above; ``none``: no audio stream goes in; an
    encoder's name (:data:`.audio.AUDIO_MODES`): every audio stream is encoded with it, and a
    container that cannot hold what it makes is an :class:`OutputError`.
    """
    _say_other_video_left_out(source)
    out = Path(output)
    ext = out.suffix.lower()
    fmt = muxer(ext)[0]
    sound = [] if audio == "none" else source.audio_streams
    streams = [*sound, *source.subtitle_streams, *source.data_streams, *source.attachment_streams]
    if not streams:
        return Copies()
    samples = _samples(source, streams)

    def takes(s: Stream) -> str | None:
        alts = [a for a in ALTERNATIVES if CONTAINERS[a][0] != fmt]
        return next((a for a in alts if _trial(CONTAINERS[a][0], s, samples[s.index]) is None), None)

    keep = Copies()
    chapter_tracks = _chapter_tracks(source)
    for s in streams:
        if timecode.is_timecode_track(s):  # carried as the video's timecode tag (copy_metadata)
            continue
        if s.index in chapter_tracks:  # the chapters themselves are copied (copy_metadata)
            continue
        if s.type == "audio" and AUDIO_MODES.get(audio or "copy"):
            keep.streams.append(s)
            keep.encode[s.index] = _chosen_audio(s, fmt, ext, str(audio))
            continue
        reason = _trial(fmt, s, samples[s.index])
        if reason is None and s.type == "audio" and fmt == "avi":
            reason = _late_in_avi(source, s)
        if reason is None:
            keep.streams.append(s)
            continue
        name, alt = codec_name(s), takes(s)
        if s.type == "audio":
            plan = plan_audio(s, fmt)
            if plan is not None and audio_trial(s, plan, _TRIAL_FORMATS.get(fmt, fmt)) is None:
                keep.streams.append(s)
                keep.encode[s.index] = plan
                untouched = (
                    f"write {alt} instead to keep it untouched" if alt else "no container here takes it as it is"
                )
                warn_once(
                    source.spec,
                    f"the input's audio stream #{s.index} ({name}) cannot be stored in a {ext} file as it is "
                    f"({reason}); it is encoded again as {plan.describe()} ({untouched})",
                )
                continue
            raise OutputError(
                f"the input's audio stream #{s.index} ({name}) cannot be stored in a {ext} file ({reason})",
                (
                    f"write {alt} instead, which takes it"
                    if alt
                    else "convert that audio first (for example to AAC or FLAC with ffmpeg)"
                )
                + ", or pass --audio none to leave the sound out",
            )
        encoder = plan_subtitle(s, fmt)
        if encoder is not None and subtitle_trial(s, encoder, _TRIAL_FORMATS.get(fmt, fmt)) is None:
            keep.streams.append(s)
            keep.encode[s.index] = encoder
            untouched = f"write {alt} instead to keep it as it is" if alt else "no container here takes it as it is"
            warn_once(
                source.spec,
                f"the input's subtitle stream #{s.index} ({name}) cannot be stored in a {ext} file as it is; it is "
                f"converted to {SHOWN.get(encoder, encoder)} ({untouched})",
            )
            continue
        keep_it = f"write {alt} to keep it" if alt else "no container here takes it"
        log.warning(
            "%s stream #%d (%s) cannot be stored in a %s file; it is left out (%s)", s.type, s.index, name, ext, keep_it
        )
    return keep


#: sound that starts this much after the first frame, copied into AVI, would play that much early
LATE_IN_AVI = Fraction(3, 100)


def _late_in_avi(source: FileSource, s: Stream) -> str | None:
    """Why audio stream ``s`` cannot be copied into AVI as it is, where it starts after the first frame (an AVI
    file plays every stream from its first frame, and copied packets cannot be preceded by silence: it would
    play early); None where it starts with it or before."""
    start, first = source.stream_start(s), source.first_time
    if start is None or first is None or start - first <= LATE_IN_AVI:
        return None
    return (
        f"it starts {float(start - first):.2f} s after the first frame, and an AVI file plays every stream from its "
        "first frame: encoded again, it gets silence before it"
    )


def _chosen_audio(s: Stream, fmt: str, ext: str, mode: str) -> AudioPlan:
    """The plan for audio stream ``s`` encoded as ``--audio mode`` asks; an :class:`OutputError` where
    this FFmpeg has no such encoder or a ``fmt`` file cannot hold what it makes."""
    encoder = AUDIO_MODES[mode]
    plan = plan_audio(s, fmt, encoder)
    if plan is None:
        raise OutputError(f"--audio {mode}: this FFmpeg build has no {encoder} encoder", "choose another --audio")
    reason = audio_trial(s, plan, _TRIAL_FORMATS.get(fmt, fmt))
    if reason is not None:
        raise OutputError(
            f"--audio {mode}: a {ext} file cannot hold {plan.describe()} ({reason})",
            "choose another --audio, or leave it out (the container's own codec is used where it must be)",
        )
    return plan

"""`run IN -o site/clip.m3u8` (HLS: a playlist and its MPEG-TS segments) and `-o site/clip.mpd`
(MPEG-DASH: a manifest, init segments and fMP4 chunks), what a web player or CDN serves; a file's
set published whole (segments, then the playlist), a live input's written in place as it goes;
every frame and the audio in it, a keyframe at each segment's start."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import pytest
from livefiles import Feed
from testkit import dead_pid
from typer.testing import CliRunner
from videofiles import hidden, random_frames, write_video

from streamdeblur.cli import app
from streamdeblur.fileio import temp_name
from streamdeblur.video.sinks import FileSink
from streamdeblur.video.sources import open_source

runner = CliRunner()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """5 s at 10 fps, with audio."""
    p = tmp_path / "in.mp4"
    write_video(p, random_frames(50, 64, 48, seed=5), codec="libx264", pix_fmt="yuv420p", rate=10, audio=True,
                time_base=Fraction(1, 90000))  # fmt: skip
    return p


def playlist(path: Path) -> tuple[list[str], list[float], str]:
    text = path.read_text()
    lines = text.splitlines()
    names = [ln for ln in lines if ln and not ln.startswith("#")]
    lengths = [float(ln.split(":")[1].rstrip(",")) for ln in lines if ln.startswith("#EXTINF:")]
    return names, lengths, text


def segment_frames(path: Path) -> tuple[int, bool, int]:
    """(frames, first video packet a keyframe, audio packets) of one segment."""
    with av.open(str(path)) as c:
        video = [p for p in c.demux(video=0) if p.size]
    with av.open(str(path)) as c:
        audio = [p for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return len(video), video[0].is_keyframe, len(audio)


def run(*args):
    return runner.invoke(app, ["run", *map(str, args)])


def test_a_file_becomes_a_playlist_and_segments_with_every_frame_and_the_audio(tmp_path, clip, tiny_weights):
    site = tmp_path / "site"
    site.mkdir()
    res = run(clip, "-o", site / "clip.m3u8", "-w", tiny_weights)
    assert res.exit_code == 0, res.output
    names, lengths, text = playlist(site / "clip.m3u8")
    assert names == ["clip_00000.ts", "clip_00001.ts", "clip_00002.ts"]
    assert lengths == pytest.approx([2.0, 2.0, 1.0], abs=0.05)  # a keyframe every 2 s and nowhere else
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    parts = [segment_frames(site / n) for n in names]
    assert [f for f, _, _ in parts] == [20, 20, 10] and all(k for _, k, _ in parts)
    assert all(a > 0 for _, _, a in parts)  # the audio goes along in every segment
    with av.open(str(site / "clip.m3u8")) as c:  # as a player reads it
        assert sum(1 for _ in c.decode(video=0)) == 50
    assert sorted(os.listdir(site)) == ["clip.m3u8", *names]
    assert hidden(site) == []


def test_an_earlier_outputs_segments_are_kept_without_overwrite_and_replaced_with_it(tmp_path, clip, tiny_weights):
    out = tmp_path / "clip.m3u8"
    (tmp_path / "clip_00000.ts").write_bytes(b"an earlier output's")
    res = run(clip, "-o", out, "-w", tiny_weights)
    assert res.exit_code != 0
    assert "segments of an earlier HLS output are in" in res.stderr and "--overwrite" in res.stderr
    assert not out.exists() and (tmp_path / "clip_00000.ts").read_bytes() == b"an earlier output's"
    assert run(clip, "-o", out, "-w", tiny_weights, "--overwrite").exit_code == 0
    assert playlist(out)[0] == ["clip_00000.ts", "clip_00001.ts", "clip_00002.ts"]
    res = run(clip, "-o", out, "-w", tiny_weights, "--overwrite", "--duration", "1.5")
    assert res.exit_code == 0, res.output
    assert playlist(out)[0] == ["clip_00000.ts"]
    assert sorted(p.name for p in tmp_path.glob("clip_*.ts")) == ["clip_00000.ts"]  # no stale segments left


def test_hls_takes_h264_or_h265_only_and_no_percent_in_its_path(tmp_path, clip):
    res = run(clip, "-o", tmp_path / "c.m3u8", "--codec", "ffv1")
    assert res.exit_code != 0
    assert res.stderr.strip().splitlines()[-1] == (
        "streamdeblur: error: HLS segments (c.m3u8) carry libx264, libx265, not ffv1; "
        "leave --codec out, or pass one of those"
    )
    res = run(clip, "-o", tmp_path / "100%.m3u8")  # FFmpeg's HLS muxer reads it as a pattern
    assert res.exit_code != 0 and "HLS output paths cannot hold '%'" in res.stderr
    assert os.listdir(tmp_path) == ["in.mp4"]


def test_an_interrupted_run_publishes_a_partial_playlist_and_a_failed_one_nothing(tmp_path, clip):
    with open_source(clip) as src:
        frames = [f for f, _ in zip(src, range(25))]
        sink = FileSink(tmp_path / "clip.m3u8", src.info)
        for f in frames:
            sink.write(f)
        assert sink.close(partial=True) == tmp_path / "clip.partial.m3u8"
        failed = FileSink(tmp_path / "other.m3u8", src.info)
        for f in frames:
            failed.write(f)
        failed.abort()
    names, _, text = playlist(tmp_path / "clip.partial.m3u8")
    assert names == ["clip.partial_00000.ts", "clip.partial_00001.ts"] and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert sum(segment_frames(tmp_path / n)[0] for n in names) == 25
    assert not (tmp_path / "clip.m3u8").exists() and not list(tmp_path.glob("other*"))
    assert hidden(tmp_path) == []


def run_live(tmp_path: Path, clip: Path, tiny_weights: Path, name: str, *args: str) -> Path:
    """``clip`` sent by a TCP server as MPEG-TS (a live feed), deblurred to ``live/NAME``; returns ``live``."""
    ts = tmp_path / "feed.ts"
    with av.open(str(clip)) as c:
        images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    write_video(ts, images, codec="libx264", pix_fmt="yuv420p", rate=10, time_base=Fraction(1, 90000))
    feed = Feed([ts.read_bytes()])
    feed.start()
    live = tmp_path / "live"
    live.mkdir()
    res = run(feed.url, "-o", live / name, "-w", tiny_weights, "--timeout", "5", *args)
    assert res.exit_code == 0, res.output
    return live


def test_a_live_input_is_written_in_place_as_an_event_playlist(tmp_path, clip, tiny_weights):
    live = run_live(tmp_path, clip, tiny_weights, "feed.m3u8")
    names, _, text = playlist(live / "feed.m3u8")
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert sum(segment_frames(live / n)[0] for n in names) == 50
    assert hidden(live) == []


def test_a_killed_runs_temporary_folder_is_removed_by_the_next(tmp_path, clip, tiny_weights):
    out = tmp_path / "clip.m3u8"
    mine = temp_name(out)
    stale = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{dead_pid()}."))
    stale.mkdir()
    (stale / "clip_00000.ts").write_bytes(b"half a segment")
    res = run(clip, "-o", out, "-w", tiny_weights)
    assert res.exit_code == 0, res.output
    assert not stale.exists() and hidden(tmp_path) == []


def test_segments_and_hls_are_refused_together_and_a_folder_of_inputs_gets_a_playlist_each(
    tmp_path, clip, tiny_weights
):
    res = run(clip, "-o", tmp_path / "x.m3u8", "--segments", "2")
    assert res.exit_code != 0 and "an HLS or DASH output (.m3u8, .mpd) is segments" in res.stderr
    assert not list(tmp_path.glob("x*")) and hidden(tmp_path) == []
    out = tmp_path / "site"
    res = run(clip, clip.with_name("in.mp4"), "-o", out, "--format", "m3u8", "-w", tiny_weights)
    assert res.exit_code == 0, res.output
    assert sorted(os.listdir(out)) == ["in.m3u8", "in_00000.ts", "in_00001.ts", "in_00002.ts"]


def dash_representation(folder: Path, stem: str, rep: int) -> bytes:
    """One DASH representation as the player assembles it: its init segment, then its chunks in order."""
    chunks = sorted(folder.glob(f"{stem}-chunk-{rep}-*"))  # .m4s (fMP4), .webm (VP9)
    return b"".join(p.read_bytes() for p in [*folder.glob(f"{stem}-init-{rep}.*"), *chunks])


def test_a_file_becomes_a_dash_manifest_and_fmp4_segments(tmp_path, clip, tiny_weights):
    site = tmp_path / "site"
    site.mkdir()
    res = run(clip, "-o", site / "clip.mpd", "-w", tiny_weights)
    assert res.exit_code == 0, res.output
    manifest = (site / "clip.mpd").read_text()
    assert 'type="static"' in manifest and 'mediaPresentationDuration="PT5.0S"' in manifest
    assert 'initialization="clip-init-$RepresentationID$.m4s"' in manifest and 'contentType="audio"' in manifest
    assert sorted(p.name for p in site.glob("clip-chunk-0-*.m4s")) == [f"clip-chunk-0-0000{i}.m4s" for i in (1, 2, 3)]
    for rep, kind, want in ((0, "video", 50), (1, "audio", 200)):
        whole = tmp_path / f"rep{rep}.mp4"
        whole.write_bytes(dash_representation(site, "clip", rep))
        with av.open(str(whole)) as c:  # the init segment and the chunks make one fragmented MP4
            got = sum(1 for _ in c.decode(**{kind: 0}))
        assert got >= want if kind == "audio" else got == want, (kind, got)
    assert hidden(site) == []


def test_an_interrupted_dash_run_publishes_a_partial_manifest_with_segments_of_its_own(tmp_path, clip):
    (tmp_path / "clip.mpd").write_text("an earlier run's")
    with open_source(clip) as src:
        sink = FileSink(tmp_path / "clip.mpd", src.info, overwrite=True)
        for f, _ in zip(src, range(25)):
            sink.write(f)
        assert sink.close(partial=True) == tmp_path / "clip.partial.mpd"
    manifest = (tmp_path / "clip.partial.mpd").read_text()
    assert 'initialization="clip.partial-init-$RepresentationID$.m4s"' in manifest
    assert 'media="clip.partial-chunk-$RepresentationID$-$Number%05d$.m4s"' in manifest
    whole = tmp_path / "part.mp4"
    whole.write_bytes(dash_representation(tmp_path, "clip.partial", 0))
    with av.open(str(whole)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 25
    assert (tmp_path / "clip.mpd").read_text() == "an earlier run's" and hidden(tmp_path) == []


def test_a_live_input_to_dash_is_written_in_place(tmp_path, clip, tiny_weights):
    live = run_live(tmp_path, clip, tiny_weights, "feed.mpd")
    assert 'type="static"' in (live / "feed.mpd").read_text()  # closed at the end
    whole = tmp_path / "all.mp4"
    whole.write_bytes(dash_representation(live, "feed", 0))
    with av.open(str(whole)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 50
    assert hidden(live) == []


@pytest.mark.parametrize("name, pattern", [("feed.m3u8", "feed_*.ts"), ("feed.mpd", "feed-chunk-0-*.m4s")])
def test_a_live_window_keeps_only_the_last_seconds_in_the_playlist_and_on_disk(tmp_path, clip, tiny_weights, name,
                                                                              pattern):  # fmt: skip
    """A 24/7 camera to HLS/DASH with --window 2: the playlist names the last 2 s and older segments are
    deleted, where without it every segment stays (5 s here: 3 segments)."""
    live = run_live(tmp_path, clip, tiny_weights, name, "--window", "2")
    kept = sorted(p.name for p in live.glob(pattern))
    assert 1 <= len(kept) <= 2, kept  # the window's one segment (and one the muxer keeps past it)
    listed = (live / name).read_text()
    if name.endswith(".m3u8"):  # the playlist starts past the first segments, and names the last
        assert "#EXT-X-MEDIA-SEQUENCE:0" not in listed and kept[-1] in listed
    else:  # the manifest's segment numbers start past the first ones
        assert 'startNumber="1"' not in listed
    assert hidden(live) == []


def test_a_window_is_for_a_live_adaptive_output(tmp_path, clip):
    res = run(clip, "-o", tmp_path / "x.m3u8", "--window", "10")
    assert res.exit_code == 2 and "--window keeps the last seconds of a live input" in res.stderr
    res = run("tcp://127.0.0.1:1", "-o", tmp_path / "x.mp4", "--window", "10", "--timeout", "0.5")
    assert res.exit_code == 2 and "--window applies to an HLS or DASH output" in res.stderr
    assert os.listdir(tmp_path) == ["in.mp4"]


def test_hevc_hls_is_fmp4_with_an_init_segment_as_apples_players_take_it(tmp_path, clip, tiny_weights):
    site = tmp_path / "site"
    site.mkdir()
    res = run(clip, "-o", site / "clip.m3u8", "-w", tiny_weights, "--codec", "libx265")
    assert res.exit_code == 0, res.output
    names, _, text = playlist(site / "clip.m3u8")
    assert names == ["clip_00000.m4s", "clip_00001.m4s", "clip_00002.m4s"]
    assert '#EXT-X-MAP:URI="clip_init.mp4"' in text
    assert b"hvc1" in (site / "clip_init.mp4").read_bytes()  # not hev1, which Safari refuses
    with av.open(str(site / "clip.m3u8")) as c:
        assert c.streams.video[0].codec_context.name == "hevc" and c.streams.audio
        assert sum(1 for _ in c.decode(video=0)) == 50
    with open_source(clip) as src:  # an interrupted one: its init segment renamed with its playlist
        sink = FileSink(tmp_path / "cut.m3u8", src.info, codec="libx265")
        for f, _ in zip(src, range(12)):
            sink.write(f)
        assert sink.close(partial=True) == tmp_path / "cut.partial.m3u8"
    assert '#EXT-X-MAP:URI="cut.partial_init.mp4"' in (tmp_path / "cut.partial.m3u8").read_text()
    assert (tmp_path / "cut.partial_init.mp4").exists() and hidden(tmp_path) == []


def test_an_odd_frame_size_is_refused_for_hls_and_dash_with_h264_and_taken_by_vp9(tmp_path, tiny_weights):
    """Every player decodes 4:2:0, which H.264 has no odd sizes for: one line saying what to do, no
    half-made site; a DASH site in VP9 takes the size as it is."""
    src = tmp_path / "odd.mkv"
    write_video(src, random_frames(6, 65, 37), codec="ffv1", pix_fmt="yuv420p")
    site = tmp_path / "site"
    site.mkdir()
    fixes = {
        "HLS": "give --crop-even (drops the last odd row/column)",
        "DASH": "give --codec libvpx-vp9 or libsvtav1, which take odd sizes, or --crop-even",
    }
    for out, kind in (("c.m3u8", "HLS"), ("c.mpd", "DASH")):
        res = run(src, "-o", site / out, "-w", tiny_weights)
        assert res.exit_code == 2, res.output
        line = res.stderr.strip().splitlines()[-1]
        assert line.startswith(
            f"streamdeblur: error: the {kind} output is 4:2:0, which libx264 cannot encode at the odd frame size "
            f"65x37; {fixes[kind]}"
        ), line
        assert os.listdir(site) == []
    res = run(src, "-o", site / "c.mpd", "-w", tiny_weights, "--codec", "libvpx-vp9")
    assert res.exit_code == 0, res.output
    # VP9 goes in WebM segments (FFmpeg's DASH muxer's choice): all published, as the manifest names them
    assert sorted(p.name for p in site.iterdir()) == ["c-chunk-0-00001.webm", "c-init-0.webm", "c.mpd"]
    assert 'initialization="c-init-$RepresentationID$.webm"' in (site / "c.mpd").read_text()
    whole = tmp_path / "rep0.webm"
    whole.write_bytes(dash_representation(site, "c", 0))
    with av.open(str(whole)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 6 and (frames[0].width, frames[0].height, frames[0].format.name) == (65, 37, "yuv420p")


@pytest.mark.parametrize("name, pattern", [("feed.m3u8", "feed_*.ts"), ("feed.mpd", "feed-chunk-0-*.m4s")])
def test_a_live_output_replaced_with_overwrite_leaves_none_of_the_earlier_ones_segments(tmp_path, clip, tiny_weights,
                                                                                      name, pattern):  # fmt: skip
    """A live site written again with --overwrite (a camera restarted, a shorter feed): the earlier
    output's segments past the new one's are removed, as a file input's are, not left on disk."""
    with av.open(str(clip)) as c:
        images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    recordings = []
    for n in (50, 15):  # 5 s, then 1.5 s
        ts = tmp_path / f"feed{n}.ts"
        write_video(ts, images[:n], codec="libx264", pix_fmt="yuv420p", rate=10, time_base=Fraction(1, 90000))
        recordings.append(ts.read_bytes())
    feed = Feed(recordings)
    feed.start()
    live = tmp_path / "live"
    live.mkdir()
    res = run(feed.url, "-o", live / name, "-w", tiny_weights, "--timeout", "5")
    assert res.exit_code == 0, res.output
    assert len(list(live.glob(pattern))) == 3, sorted(os.listdir(live))
    res = run(feed.url, "-o", live / name, "-w", tiny_weights, "--timeout", "5", "--overwrite")
    assert res.exit_code == 0, res.output
    kept = sorted(p.name for p in live.glob(pattern))
    assert kept == [pattern.replace("*", "00000" if name.endswith(".m3u8") else "00001")], kept
    assert hidden(live) == []

"""The files written beside a run (--report, --progress, bench --json/--plot, the trainer's --json and
--out) never replace the run's input or output, nor an existing file of another kind: `--report
clip.mp4` replaced the video with JSON, `--progress clip.mp4` emptied the input before failing on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.errors import OutputError
from streamdeblur.fileio import check_writable

runner = CliRunner()
CLIP = Path(__file__).parents[1] / "samples" / "wine.mp4"


@pytest.fixture
def clip(tmp_path):
    return Path(shutil.copy(CLIP, tmp_path / "clip.mp4"))


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--report", "{out}"], "--report {out}"),  # a single run's report onto its own output
        (["--report", "{clip}"], "--report {clip}"),  # onto the input
        (["--progress", "{clip}"], "--progress {clip}"),
        (["--progress", "{out}"], "--progress {out}"),  # the output, not there yet: made, then refused
    ],
)
def test_a_side_file_on_the_runs_input_or_output_is_refused_and_nothing_is_touched(tmp_path, clip, extra, named):
    out = tmp_path / "out.mp4"
    before = clip.read_bytes()
    args = [a.format(out=out, clip=clip) for a in extra]
    res = runner.invoke(app, ["run", str(clip), "-o", str(out), "--backend", "torch", *args])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"streamdeblur: error: {named.format(out=out, clip=clip)} is also this run's input or output; it would be "
        f"replaced; give {args[0]} another file such as {'report.json' if args[0] == '--report' else 'progress.txt'}"
    ]
    assert clip.read_bytes() == before and not out.exists()


def test_bench_json_and_plot_refuse_the_input_and_files_of_another_kind(tmp_path, clip):
    before = clip.read_bytes()
    res = runner.invoke(app, ["bench", str(clip), "--json", str(clip)])
    assert res.exit_code == 2 and "is also this run's input or output" in res.stderr
    video = tmp_path / "holiday.mp4"
    shutil.copy(clip, video)
    res = runner.invoke(app, ["bench", "--json", str(video)])
    assert res.exit_code == 2 and res.stderr.splitlines() == [
        f"streamdeblur: error: --json {video} exists and is not a JSON file; it would be replaced; give --json "
        "another file such as bench.json, or remove it first"
    ]
    assert clip.read_bytes() == before and video.read_bytes() == before


def test_an_earlier_report_of_the_same_kind_is_replaced_without_asking(tmp_path):
    """Running the same command again writes its report again: that is not refused."""
    old = tmp_path / "report.json"
    old.write_text('{"items": []}\n')
    check_writable(old, "--report", kind="json")
    progress = tmp_path / "progress.txt"
    progress.write_text("frame=10\nprogress=end\n")
    check_writable(progress, "--progress", kind="progress")
    empty = tmp_path / "empty.json"
    empty.touch()
    check_writable(empty, "--json", kind="json")
    with pytest.raises(OutputError, match="exists and is not a progress report"):
        check_writable(old, "--progress", kind="progress")


def test_trainer_json_and_pictures_refuse_a_video(tmp_path, clip):
    from trainer.cli import app as train_app

    before = clip.read_bytes()
    res = runner.invoke(train_app, ["video-psnr", str(clip), str(clip), "--json", str(clip)])
    assert res.exit_code == 2 and "--json" in res.stderr and "it would be replaced" in res.stderr
    res = runner.invoke(train_app, ["side-by-side", str(clip), "--out", str(clip), "--overwrite"])
    assert res.exit_code == 2 and "--out" in res.stderr and "it would be replaced" in res.stderr
    assert clip.read_bytes() == before


def test_an_output_named_as_the_input_is_said_to_be_the_input_first(clip):
    """`run clip.mp4 -o clip.mp4` said "already exists; pass --overwrite", and passing it was then refused
    as the input: the one line names the real problem at once."""
    for extra in ([], ["--overwrite"]):
        res = runner.invoke(app, ["run", str(clip), "-o", str(clip), "--backend", "torch", *extra])
        assert res.exit_code == 2
        line = f"streamdeblur: error: the output {clip} is the input; write to another file"
        assert res.stderr.splitlines() == [line]
    picture = clip.with_name("shot.png")
    picture.write_bytes((Path(__file__).parents[1] / "docs" / "sidebyside.png").read_bytes())
    res = runner.invoke(app, ["run", str(picture), "-o", str(picture), "--backend", "torch"])
    assert res.exit_code == 2 and "is the input; write to another file" in res.stderr

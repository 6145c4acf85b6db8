"""`streamdeblur-train decide`: the selection rule as code. Replayed on every eval run recorded in
docs/eval/ since the rule took its present form (stage 20), it reaches the decision the training
log records for each: which stages shipped and which did not."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainer.cli import app
from trainer.decide import decide, read_panel

runner = CliRunner()
EVAL = Path(__file__).parents[2] / "docs" / "eval"

#: panel file -> (the shipped generator's column, the candidate's, shipped? as docs/training-log.md records)
RECORDED = {
    "20-vs-19": ("STAGE19.safetensors", "runs/footage-v11/last.pt", False),
    "21-vs-19": ("STAGE19.safetensors", "runs/footage-v12/last.pt", True),
    "22-vs-21": ("STAGE21.safetensors", "runs/footage-v13/last.pt", True),
    "23-vs-22": ("STAGE22.safetensors", "runs/footage-v14/last.pt", True),
    "24-vs-23": ("STAGE23.safetensors", "runs/footage-v15/last.pt", False),
    "25-vs-23": ("STAGE23.safetensors", "runs/footage-v16/last.pt", False),
    "26-vs-23": ("stage23.safetensors", "deblurgan-lite.safetensors", False),
    "27-vs-23": ("stage23.safetensors", "stage27.safetensors", True),
    "28-vs-27": ("stage27.safetensors", "stage28.safetensors", True),
    "29-vs-28": ("stage28.safetensors", "stage29.safetensors", False),
    "30-vs-28": ("stage28.safetensors", "stage30.safetensors", False),
    "30b-vs-28": ("stage28.safetensors", "soup28-30.safetensors", False),
    "33-vs-28": ("stage28.safetensors", "soup33.safetensors", False),
    "34-vs-28": ("stage28.safetensors", "stage34.safetensors", True),
}


@pytest.mark.parametrize("stages", RECORDED)
def test_every_recorded_decision_is_reached_again(stages):
    shipped, candidate, ships = RECORDED[stages]
    assert decide(read_panel(EVAL / f"panel-stage{stages}-vs-8.json"), shipped, candidate).ships is ships


def test_the_command_prints_every_row_and_what_decided_and_exits_by_it():
    panel = str(EVAL / "panel-stage34-vs-28-vs-8.json")
    res = runner.invoke(app, ["decide", panel, "--shipped", "stage28.safetensors", "--candidate", "stage34"])
    assert res.exit_code == 0, res.output
    assert "clip wine.mp4" in res.output and "+0.218" in res.output  # the row and its difference
    assert "so the worst row decides: +0.680 against +0.674 (+0.006, not lower)" in res.output
    assert res.output.rstrip().endswith("stage34.safetensors: SHIPS in place of stage28.safetensors")
    # a stricter rule, given on the command line: the mild row's 0.077 dB fall is too much
    res = runner.invoke(app, ["decide", panel, "--shipped", "stage28", "--candidate", "stage34", "--max-drop", "0.05"])
    assert res.exit_code == 1 and "does not ship" in res.output
    panel = str(EVAL / "panel-stage33-vs-28-vs-8.json")
    res = runner.invoke(app, ["decide", panel, "--shipped", "stage28.safetensors", "--candidate", "soup33"])
    assert res.exit_code == 1 and "(-0.086, lower)" in res.output


@pytest.mark.parametrize(
    ("panel", "candidate", "words"),
    [
        ("panel-stage16-vs-15-vs-8.json", "runs/footage-v7/last.pt", "scored without goals"),
        ("panel-stage34-vs-28-vs-8.json", "stage35", "no generator 'stage35' in this panel; choose one of:"),
        ("missing.json", "stage34", "eval JSON not found"),
    ],
)
def test_a_panel_it_cannot_judge_is_one_line(panel, candidate, words):
    res = runner.invoke(app, ["decide", str(EVAL / panel), "--shipped", "stage28", "--candidate", candidate])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr

"""The command line: every bad input is one line naming the problem and a fix, exit code != 0."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
import torch
from testkit import TINY_LITE as TINY
from testkit import perturbed
from typer.testing import CliRunner

from streamdeblur.models import build_model, load_generator, save_generator
from trainer.cli import app

runner = CliRunner()
#: testkit's generator small enough to train in a second, as --model-arg options
TINY_LITE = [word for k, v in TINY.items() for word in ("--model-arg", f"{k}={json.dumps(v)}")]


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code not in (0, 1), (result.exit_code, result.output)
    err = result.stderr.strip()
    assert "Traceback" not in result.output and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("streamdeblur-train: error:")
    for n in needles:
        assert n in err, err


def _error_is(result, message: str, code: int = 2) -> None:
    """stderr is exactly the one line ``streamdeblur-train: error: MESSAGE``: nothing before it (the
    progress bar's line break was a blank line there) and nothing after."""
    assert (result.exit_code, result.stderr) == (code, f"streamdeblur-train: error: {message}\n"), result.output


def _train(data: Path, out: Path, *options: object) -> list[str]:
    """The words of ``streamdeblur-train train --data DATA --out OUT OPTIONS...``."""
    return ["train", "--data", str(data), "--out", str(out), *map(str, options)]


@pytest.mark.parametrize(
    "command",
    [
        "make-data",
        "calibrate",
        "train",
        "eval",
        "decide",
        "export",
        "average",
        "pool-eval",
        "video-psnr",
        "side-by-side",
    ],
)
def test_help_shows_an_example(command: str) -> None:
    r = runner.invoke(app, [command, "--help"])
    assert r.exit_code == 0
    assert "Example" in r.output and f"streamdeblur-train {command}" in r.output


def test_missing_dataset_root(tmp_path: Path) -> None:
    _one_line_error(runner.invoke(app, ["eval", str(tmp_path / "nowhere")]), "dataset root not found", "make-data")


def test_empty_dataset_root(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    _one_line_error(runner.invoke(app, ["eval", str(tmp_path)]), "is empty")
    _one_line_error(runner.invoke(app, _train(tmp_path, tmp_path / "run")), "no train/ folder")


def test_blur_and_sharp_lists_differ(tiny_gopro_copy: Path) -> None:
    (tiny_gopro_copy / "test" / "gopro_photo" / "blur" / "000002.png").unlink()
    _one_line_error(runner.invoke(app, ["eval", str(tiny_gopro_copy)]), "file lists differ", "000002.png")


def test_unreadable_image(tiny_gopro_copy: Path) -> None:
    (tiny_gopro_copy / "test" / "traj_photo" / "sharp" / "000001.png").write_bytes(b"")
    _one_line_error(runner.invoke(app, ["eval", str(tiny_gopro_copy)]), "cannot read image", "000001.png")


@pytest.mark.parametrize("option", ["--sharp-fraction", "--gopro-fraction"])
def test_fraction_out_of_range(option: str, tmp_path: Path) -> None:
    _one_line_error(
        runner.invoke(app, ["train", option, "1.5", "--out", str(tmp_path / "run")]), option, "between 0 and 1"
    )


def test_ema_decay_out_of_range(tmp_path: Path) -> None:
    _one_line_error(
        runner.invoke(app, ["train", "--ema-decay", "1", "--out", str(tmp_path / "run")]),
        "--ema-decay must be in [0, 1)",
        "0.999",
    )


@pytest.mark.parametrize(
    ("option", "choices"),
    [
        ("--pixel-loss", ["l1", "charbonnier", "psnr"]),
        ("--content", ["pixel", "perceptual", "both"]),
        ("--device", ["auto", "cpu", "cuda"]),
    ],
)
def test_fixed_choices_are_listed_and_checked(option: str, choices: list[str], tmp_path: Path) -> None:
    r = runner.invoke(app, ["train", option, "l2", "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "Invalid value" in r.stderr and option in r.stderr
    assert all(f"'{c}'" in r.stderr for c in choices), r.stderr
    assert not (tmp_path / "run").exists()


def test_bad_size(tmp_path: Path) -> None:
    _one_line_error(
        runner.invoke(app, ["make-data", "--out", str(tmp_path / "set"), "--size", "64x"]),
        "--size '64x' is not a size",
        "512x384",
    )


def test_checkpoint_of_another_architecture(tiny_gopro: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    r = runner.invoke(app, _train(tiny_gopro, run, *"--steps 1 --crop 32 --batch-size 1".split(), *TINY_LITE))
    assert r.exit_code == 0, r.output
    _one_line_error(
        runner.invoke(app, ["train", "--resume", str(run / "last.pt"), "--model", "deblurgan", "--out", str(run)]),
        "'deblurgan-lite' run",
        "--model 'deblurgan'",
    )
    # an exported generator whose card names another architecture than its weights
    w, card = save_generator(build_model("deblurgan", base_channels=8, n_blocks=1), tmp_path / "g")
    meta = json.loads(card.read_text())
    meta.update(arch="deblurgan-lite", args=TINY)
    card.write_text(json.dumps(meta))
    _one_line_error(
        runner.invoke(app, ["eval", str(tiny_gopro), "-w", str(w)]), "does not match architecture 'deblurgan-lite'"
    )
    _one_line_error(
        runner.invoke(app, _train(tiny_gopro, tmp_path / "r2", "--init", w, "--model", "deblurgan")),
        "does not match",
    )
    # a file that is no checkpoint at all
    bogus = tmp_path / "bogus.pt"
    torch.save({"hello": 1}, bogus)
    _one_line_error(
        runner.invoke(app, ["export", str(bogus), "-o", str(tmp_path / "x")]), "not a streamdeblur-train checkpoint"
    )


def test_vgg_weights_errors(tiny_gopro: Path, tmp_path: Path) -> None:
    base = _train(tiny_gopro, tmp_path / "run", *"--steps 1 --content perceptual".split())
    _one_line_error(runner.invoke(app, base), "needs --vgg-weights")
    _one_line_error(runner.invoke(app, [*base, "--vgg-weights", str(tmp_path / "vgg19.pth")]), "not found")
    vgg16ish = tmp_path / "vgg16.pth"
    torch.save({f"features.{i}.weight": torch.zeros(1) for i in (0, 2, 5)}, vgg16ish)
    _one_line_error(runner.invoke(app, [*base, "--vgg-weights", str(vgg16ish)]), "not a VGG-19 state dict")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = runner.invoke(app, ["--debug", "eval", str(tmp_path / "nowhere")])
    assert r.exit_code != 0
    assert isinstance(r.exception, FileNotFoundError)  # raised, not turned into one line


def test_make_data_train_eval_export_end_to_end(photo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "set"
    make = ["make-data", "--out", str(data), "--package", "none", "--photos", str(photo_dir)]
    r = runner.invoke(app, [*make, *"--size 64x48 --train-frames 2 --test-frames 2".split()])
    assert r.exit_code == 0, r.output
    assert "4 training and 4 test pairs" in r.output
    r = runner.invoke(app, make)
    _one_line_error(r, "not empty", "--overwrite")
    # --overwrite replaces the set: it left the old one's frames beside the new one's (two sizes in one set)
    r = runner.invoke(app, [*make, *"--size 32x24 --train-frames 1 --test-frames 1 --overwrite".split()])
    assert r.exit_code == 0, r.output
    sizes = {cv2.imread(str(p)).shape[:2] for p in data.rglob("*.png")}
    assert sizes == {(24, 32)}, sizes
    r = runner.invoke(app, [*make, *"--size 64x48 --train-frames 2 --test-frames 2 --overwrite".split()])
    assert r.exit_code == 0, r.output
    run = tmp_path / "run"
    options = "--steps 3 --val-every 3 --crop 32 --batch-size 2".split()
    r = runner.invoke(app, _train(data, run, "--val-data", data, *options, *TINY_LITE))
    assert r.exit_code == 0, r.output
    assert "validation" in r.stderr and "gopro" in r.stderr
    r = runner.invoke(app, ["eval", str(data), "-w", str(run / "best.pt"), "--json", str(tmp_path / "ev.json")])
    assert r.exit_code == 0, r.output
    for word in ("input", "unsharp", "best.pt", "gopro PSNR", "traj SSIM", "PSNR(model(sharp), sharp)"):
        assert word in r.output
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert set(ev["results"]) == {"input", "unsharp", str(run / "best.pt")}
    before = sorted(data.rglob("*"))  # the dataset is the user's (maybe shared): eval-test.json was left in it
    r = runner.invoke(app, ["eval", str(data), "-w", str(run / "best.pt"), "--no-panel"])
    assert r.exit_code == 0 and "best.pt" in r.output, r.output
    assert sorted(data.rglob("*")) == before
    r = runner.invoke(
        app, ["export", str(run / "best.pt"), "-o", str(tmp_path / "gen"), "--metrics", str(tmp_path / "ev.json")]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "gen.safetensors").is_file() and (tmp_path / "gen.json").is_file()
    assert "model" in json.loads((tmp_path / "gen.json").read_text())["metrics"]["eval"]
    # another run's best.pt is not this one because both are called best.pt: its card gets no figures of it
    (tmp_path / "other").mkdir()
    shutil.copy(run / "best.pt", tmp_path / "other" / "best.pt")
    r = runner.invoke(
        app,
        [
            "export",
            str(tmp_path / "other" / "best.pt"),
            "-o",
            str(tmp_path / "o"),
            "--metrics",
            str(tmp_path / "ev.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "model" not in json.loads((tmp_path / "o.json").read_text())["metrics"]["eval"]
    # a new run into a folder that holds one would replace its checkpoints and mix the logs
    log_before = (run / "log.jsonl").read_text()
    r = runner.invoke(app, _train(data, run, "--val-data", data, *options, *TINY_LITE))
    _one_line_error(r, f"--out {run} holds a run already", f"--resume {run / 'last.pt'}")
    assert (run / "log.jsonl").read_text() == log_before
    # --half: the same generator in half the file, which the runtime loads like any other
    r = runner.invoke(app, ["export", str(run / "best.pt"), "-o", str(tmp_path / "gen16"), "--half"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "gen16.json").read_text())["stored_dtype"] == "float16"
    assert (tmp_path / "gen16.safetensors").stat().st_size < 0.6 * (tmp_path / "gen.safetensors").stat().st_size
    assert load_generator(tmp_path / "gen16.safetensors").arch == "deblurgan-lite"
    # exporting over an existing generator (the shipped one, by a slip of -o) needs --overwrite
    before = (tmp_path / "gen.safetensors").read_bytes()
    again = ["export", str(run / "last.pt"), "-o", str(tmp_path / "gen.safetensors"), "--half"]
    _one_line_error(runner.invoke(app, again), "gen.safetensors exists", "--overwrite")
    assert (tmp_path / "gen.safetensors").read_bytes() == before
    (tmp_path / "gen.safetensors").unlink()  # a card left alone is taken too
    _one_line_error(runner.invoke(app, again), "gen.json exists", "--overwrite")
    r = runner.invoke(app, [*again, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "gen.json").read_text())["stored_dtype"] == "float16"


def test_init_with_model_args_that_do_not_fit(tiny_gopro: Path, tmp_path: Path, tiny_weights: Path) -> None:
    base = _train(tiny_gopro, tmp_path / "run", "--steps", "1", "--init", tiny_weights)
    # a wider model cannot start from a narrow one; fewer levels are not a valid growth either
    _one_line_error(
        runner.invoke(app, [*base, "--model-arg", "width=16"]), "cannot grow into width=16", "only add blocks"
    )
    _one_line_error(runner.invoke(app, [*base, "--model-arg", "enc_blocks=[1,1,1]"]), "enc_blocks")


def test_resume_goes_on_in_the_checkpoints_folder(tiny_gopro: Path, tmp_path: Path, monkeypatch) -> None:
    """``--resume runs/X/last.pt`` without ``--out`` writes to runs/X, not to the default folder."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "mine"
    tiny = "--steps 2 --crop 32 --batch-size 1 --log-every 1 --ckpt-every 1 --val-frames 1".split()
    r = runner.invoke(app, _train(tiny_gopro, run, *tiny, *TINY_LITE))
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "--resume", str(run / "last.pt"), "--steps", "4"])
    assert r.exit_code == 0, r.output
    steps = [json.loads(line).get("step") for line in (run / "log.jsonl").read_text().splitlines()]
    assert 4 in steps, steps
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 4
    assert not (tmp_path / "runs" / "deblurgan-lite").exists()


def test_resume_keeps_the_runs_own_checkpoint_and_validation_cadence(tiny_gopro: Path, tmp_path: Path) -> None:
    """A run started with ``--ckpt-every 1 --val-every 3`` and resumed without them goes on
    checkpointing and validating at that cadence, not at the defaults (500); asked for, they change."""
    run = tmp_path / "run"
    tiny = "--steps 2 --crop 32 --batch-size 1 --ckpt-every 1 --val-every 3 --val-frames 1".split()
    assert (r := runner.invoke(app, _train(tiny_gopro, run, *tiny, *TINY_LITE))).exit_code == 0, r.output
    r = runner.invoke(app, ["train", "--resume", str(run / "last.pt"), "--steps", "7"])
    assert r.exit_code == 0, r.output

    def val_steps() -> list[int]:
        events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        return [e["step"] for e in events if e["event"] == "val"]

    assert val_steps() == [2, 3, 6, 7]  # the end of each part, and every 3 steps
    config = torch.load(run / "last.pt", weights_only=False)["config"]
    assert (config["ckpt_every"], config["val_every"]) == (1, 3)
    r = runner.invoke(app, ["train", "--resume", str(run / "last.pt"), "--steps", "9", "--val-every", "8"])
    assert r.exit_code == 0, r.output
    assert val_steps() == [2, 3, 6, 7, 8, 9]
    # a setting the checkpoint fixes is refused, not silently ignored, and the run is left as it was
    before = (run / "last.pt").read_bytes()
    _one_line_error(
        runner.invoke(app, ["train", "--resume", str(run / "last.pt"), "--steps", "12", "--lr", "1e-3"]),
        "--lr cannot change when a run is resumed",
        "--init",
    )
    assert (run / "last.pt").read_bytes() == before


def test_eval_goals_judge_each_row_against_its_own_goal(tiny_gopro: Path, tmp_path: Path, tiny_weights: Path) -> None:
    nudged, _ = save_generator(perturbed("deblurgan-lite", **TINY), tmp_path / "nudged")
    goals = tmp_path / "goals.json"
    goals.write_text(json.dumps({"real, as published": 0.5, "real, H.264 CRF 23": -2.0, "clip nowhere.mp4": 1.5}))
    no_clips = tmp_path / "no-clips"
    no_clips.mkdir()
    base = ["eval", str(tiny_gopro), "-w", str(tiny_weights), "-w", str(nudged), "--no-synthetic"]
    out = tmp_path / "ev.json"
    r = runner.invoke(app, [*base, "--samples", str(no_clips), "--goals", str(goals), "--json", str(out)])
    assert r.exit_code == 0, r.output
    panel = json.loads(out.read_text())["panel"]
    rows = {row["condition"]: row for row in panel["rows"]}
    g = panel["goals"]
    assert g["missing"] == ["clip nowhere.mp4"]  # a goal for a row this run could not build is named, not dropped
    for label, m in g["models"].items():
        gains = {c: rows[c]["models"][label]["gain"] for c in ("real, as published", "real, H.264 CRF 23")}
        assert m["margins"] == pytest.approx(
            {
                "real, as published": gains["real, as published"] - 0.5,
                "real, H.264 CRF 23": gains["real, H.264 CRF 23"] + 2.0,
            }
        )
        # the untrained identity gains nothing, so the 0.5 dB goal is its worst row; so for the nudged one
        assert m["worst_margin_row"] == "real, as published" and m["worst_margin"] == min(m["margins"].values())
        assert f"{label}: worst margin over the goals {m['worst_margin']:+.2f} dB" in r.output
    assert "goal for 'clip nowhere.mp4': no such row here" in r.output


@pytest.mark.parametrize(
    ("text", "needle"),
    [(None, "not found"), ("{not json", "not readable JSON"), ('{"real, as published": "2.5"}', "numbers")],
)
def test_eval_bad_goals_file_stops_before_scoring(
    tiny_gopro: Path, tmp_path: Path, tiny_weights: Path, text: str | None, needle: str
) -> None:
    goals = tmp_path / "goals.json"
    if text is not None:
        goals.write_text(text)
    out = tmp_path / "ev.json"
    r = runner.invoke(
        app, ["eval", str(tiny_gopro), "-w", str(tiny_weights), "--goals", str(goals), "--json", str(out)]
    )
    _one_line_error(r, "goals file", needle)
    assert not out.exists()


def test_eval_unwritable_json_stops_before_scoring(tiny_gopro: Path, tmp_path: Path, tiny_weights: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for where, needle in ((tmp_path, "is a folder"), (a_file / "sub" / "ev.json", "is not a folder")):
        r = runner.invoke(app, ["eval", str(tiny_gopro), "-w", str(tiny_weights), "--json", str(where)])
        _one_line_error(r, "--json", needle)
        assert "robustness panel" not in r.output  # nothing was scored
    assert a_file.read_text() == "x"


def test_average_writes_the_mean_of_generators_of_one_architecture(tmp_path: Path) -> None:
    """`average`: a "model soup" of fine-tunes is each weight's mean; it loads and runs as the runtime
    loads any generator, its card names what went in; another architecture, one generator alone or an
    existing output without --overwrite are one-line errors."""
    paths = []
    for seed in (1, 2, 3):
        w, _ = save_generator(
            perturbed("deblurgan-lite", seed, **TINY), tmp_path / f"g{seed}", trained_on={"seed": seed}
        )
        paths.append(str(w))
    r = runner.invoke(app, ["average", *paths, "-o", str(tmp_path / "soup")])
    assert r.exit_code == 0, r.output
    soup, members = load_generator(tmp_path / "soup.safetensors"), [load_generator(p) for p in paths]
    for k, v in soup.state_dict().items():
        want = sum(m.state_dict()[k] for m in members) / 3
        torch.testing.assert_close(v, want)
    assert [m["weights"] for m in soup.card["trained_on"]["averaged"]] == [
        "g1.safetensors",
        "g2.safetensors",
        "g3.safetensors",
    ]
    assert soup.card["trained_on"]["averaged"][1]["trained_on"] == {"seed": 2}
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.equal(soup(x), members[0](x))  # not one of them passed through
    _one_line_error(runner.invoke(app, ["average", *paths, "-o", str(tmp_path / "soup")]), "exists", "--overwrite")
    other, _ = save_generator(perturbed("deblurgan-lite", 4, **{**TINY, "width": 16}), tmp_path / "wide")
    _one_line_error(
        runner.invoke(app, ["average", paths[0], str(other), "-o", str(tmp_path / "x")]), "one architecture"
    )
    _one_line_error(runner.invoke(app, ["average", paths[0], "-o", str(tmp_path / "x")]), "two generators or more")
    assert not (tmp_path / "x.safetensors").exists()


def test_ctrl_c_in_train_names_the_checkpoint_to_go_on_from(tiny_gopro: Path, tmp_path: Path, monkeypatch) -> None:
    """Every command of streamdeblur-train said "interrupted (resume with --resume RUN/last.pt)" on Ctrl-C,
    make-data and eval too, and train with RUN as typed. train names its own last.pt, or says there is none
    yet; the others say only that they were interrupted."""
    import trainer.train

    real = trainer.train.report_step

    def ctrl_c_at(step: int):
        def report(log, cfg, at, *rest):
            real(log, cfg, at, *rest)
            if at == step:
                raise KeyboardInterrupt

        return report

    options = ["--steps", "6", "--ckpt-every", "3", "--val-every", "3", "--crop", "32", "--batch-size", "2", *TINY_LITE]
    for step, run, said in (
        (2, tmp_path / "a", "interrupted before the first checkpoint (start again)"),
        (4, tmp_path / "b", f"interrupted (go on with: streamdeblur-train train --resume {tmp_path}/b/last.pt)"),
    ):
        monkeypatch.setattr(trainer.train, "report_step", ctrl_c_at(step))
        r = runner.invoke(app, _train(tiny_gopro, run, *options))
        assert r.exit_code == 130 and r.stderr.splitlines()[-1] == f"streamdeblur-train: error: {said}", r.output


def test_resume_with_no_steps_left_says_so(tiny_gopro: Path, tmp_path: Path) -> None:
    """--resume with --steps at or below the checkpoint's step ended at once saying "done": it says the run is
    there already and how to go on."""
    run = tmp_path / "run"
    options = ["--steps", "3", "--ckpt-every", "3", "--val-every", "3", "--crop", "32", "--batch-size", "2"]
    assert runner.invoke(app, _train(tiny_gopro, run, *options, *TINY_LITE)).exit_code == 0
    r = runner.invoke(app, ["train", "--resume", str(run / "last.pt"), "--steps", "2"])
    _one_line_error(r, f"{run / 'last.pt'} is at step 3 already", "--steps above it")


def test_a_missing_generator_file_is_named_with_the_commands_own_option(tmp_path: Path) -> None:
    """train --init and average with a file that is not there said "leave --weights out to use the shipped
    model": an option neither command has."""
    r = runner.invoke(app, ["train", "--init", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "r")])
    _one_line_error(r, f"--init: generator weights not found: {tmp_path / 'nope.safetensors'}", "check the path")
    assert "--weights" not in r.stderr
    r = runner.invoke(app, ["average", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "-o", "s"])
    _one_line_error(r, "generator weights not found", "check the path")
    assert "--weights" not in r.stderr


def test_train_and_make_data_errors_start_with_no_blank_line(tmp_path: Path) -> None:
    """rich's progress bar ended with a line break where stderr is no terminal, before every error of
    train and make-data: a blank line, then the error."""
    nowhere = tmp_path / "nowhere"
    _error_is(
        runner.invoke(app, _train(nowhere, tmp_path / "run", "--steps", "1")),
        f"dataset root not found: {nowhere}; "
        "run `streamdeblur-train make-data --out ROOT` or pass a GoPro-layout folder",
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"")
    _error_is(
        runner.invoke(app, ["make-data", "-o", str(tmp_path / "set"), "--photos", str(photos), "--package", "none"]),
        f"cannot read image {photos / 'a.png'} (empty, truncated or not an image); replace or delete the file",
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--lr nan", "--lr must be a finite number, got nan; e.g. --lr 0.0001"),
        ("--lr inf", "--lr must be a finite number, got inf; e.g. --lr 0.0001"),
        ("--beta1 2", "--beta1 must be in [0, 1), got 2; e.g. --beta1 0.5 (DeblurGAN's)"),
        ("--beta1 nan", "--beta1 must be a finite number, got nan; e.g. --beta1 0.5"),
        ("--seed -1", f"--seed must be a whole number from 0 to {2**64 - 1}, got -1; e.g. --seed 1"),
        ("--gamma nan", "--gamma must be a finite number, got nan; e.g. --gamma 0"),
        ("--content-weight inf", "--content-weight must be a finite number, got inf; e.g. --content-weight 100"),
        ("--fft-weight -1", "--fft-weight must be 0 or more, got -1"),
        ("--val-frames -1", "--val-frames must be 0 or more, got -1"),
        ("--decay-start -5", "--decay-start must be 0 or more, got -5"),
        ("--adv-start-step -1", "--adv-start-step must be 0 or more, got -1"),
        ("--motion 0.3,inf", "Invalid value: --motion '0.3,inf' is not LO,HI of finite numbers (e.g. 0.5,3)"),
    ],
)
def test_train_refuses_a_number_out_of_range_before_it_starts(options: str, message: str, tmp_path: Path) -> None:
    """NaN passed every range check (``nan <= 0`` is False) and reached Adam ("internal error: ValueError:
    Invalid learning rate: nan"); a negative seed failed once the run had started."""
    run = tmp_path / "run"
    _error_is(runner.invoke(app, ["train", "--out", str(run), "--steps", "2", *options.split()]), message)
    assert not run.exists()


def test_a_training_config_with_a_pair_not_finite_is_refused() -> None:
    from streamdeblur.errors import DataError
    from trainer.config import TrainConfig, check_config

    with pytest.raises(
        DataError, match=r"--motion must be LO,HI of finite numbers, got 0.3,inf; e.g. --motion 0.3,1.5"
    ):
        check_config(TrainConfig(motion=(0.3, float("inf"))))
    with pytest.raises(DataError, match=r"beta2 must be in \[0, 1\), got nan"):
        check_config(TrainConfig(betas=(0.5, float("nan"))))


def test_train_out_that_is_a_file_is_refused(tiny_gopro: Path, tmp_path: Path) -> None:
    """``-o clip.mp4`` (a file) was an internal FileExistsError from making the folder."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"video")
    _error_is(
        runner.invoke(app, _train(tiny_gopro, clip, "--steps", "1")),
        f"--out {clip} is a file, not a folder; name a folder for the run (it holds last.pt, best.pt and log.jsonl)",
    )
    _error_is(
        runner.invoke(app, _train(tiny_gopro, clip / "run", "--steps", "1")),
        f"cannot write {clip}/run/log.jsonl: {clip} is not a folder; give --out a writable place",
    )
    assert clip.read_bytes() == b"video"


def test_a_refused_or_failed_run_leaves_no_run_folder(tiny_gopro: Path, tmp_path: Path, monkeypatch) -> None:
    """A run refused for its --data or --init left an empty run folder; one that failed before its first
    checkpoint left a log (and best.pt) that made "start again" a "holds a run already" error."""
    import trainer.train

    run = tmp_path / "runs" / "new"
    r = runner.invoke(app, _train(tmp_path / "nowhere", run, "--steps", "1"))
    assert r.exit_code == 2 and "dataset root not found" in r.stderr
    r = runner.invoke(app, _train(tiny_gopro, run, "--steps", "1", "--init", tmp_path / "nope.safetensors"))
    assert r.exit_code == 2 and "--init: generator weights not found" in r.stderr
    assert not (tmp_path / "runs").exists()
    real = trainer.train.report_step

    def ctrl_c_at_2(log, cfg, at, *rest):
        real(log, cfg, at, *rest)
        if at == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer.train, "report_step", ctrl_c_at_2)
    options = ["--steps", "4", "--ckpt-every", "3", "--val-every", "1", "--crop", "32", "--batch-size", "1", *TINY_LITE]
    mine = tmp_path / "mine"  # a folder of the user's own: it stays, with what was in it
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    for out in (run, mine):
        r = runner.invoke(app, _train(tiny_gopro, out, *options))
        said = "streamdeblur-train: error: interrupted before the first checkpoint (start again)"
        assert r.exit_code == 130 and r.stderr.splitlines()[-1] == said, r.output
    assert not (tmp_path / "runs").exists()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    monkeypatch.setattr(trainer.train, "report_step", real)
    assert (r := runner.invoke(app, _train(tiny_gopro, mine, *options))).exit_code == 0, r.output


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("eval ds -w w.pt --no-panel --max-frames -1", "Invalid value for '--max-frames': Input should be greater"),
        ("eval ds -w w.pt --no-panel --max-frames 0", "Invalid value for '--max-frames': Input should be greater"),
        ("eval ds -w w.pt --threads -3", "Invalid value for '--threads': Input should be greater than or equal to 1"),
        ("train --threads 0 -o out", "Invalid value for '--threads': Input should be greater than or equal to 1"),
        (
            "side-by-side ds --crop 0 -o out.png",
            "Invalid value for '--crop': Input should be greater than or equal to 32",
        ),
        ("side-by-side clip.mp4 --frame -1 -o out.png", "Invalid value for '--frame': Input should be greater"),
        ("calibrate ds --object-fraction 5", "Invalid value for '--object-fraction': Input should be less than or"),
        ("calibrate ds --object-fraction nan", "Invalid value for '--object-fraction': Input should be less than or"),
        ("calibrate ds --seed -1", "Invalid value for '--seed': Input should be greater than or equal to 0"),
        ("make-data -o out --seed -1", "Invalid value for '--seed': Input should be greater than or equal to 0"),
        ("decide ev.json --shipped a --candidate b --max-drop nan", "Invalid value for '--max-drop': nan is not a"),
        ("decide ev.json --shipped a --candidate b --margin-step inf", "Invalid value for '--margin-step': inf is not"),
    ],
)
def test_numbers_out_of_range_are_refused_before_any_work(
    words: str, message: str, tmp_path: Path, monkeypatch
) -> None:
    """``eval --max-frames -1`` or ``--threads -3`` were internal errors and ``--max-frames 0`` an empty
    table, ``side-by-side --crop 0`` an OpenCV error, ``calibrate --object-fraction 5`` (or nan) ran on."""
    monkeypatch.chdir(tmp_path)
    command = words.split()[0]
    r = runner.invoke(app, words.split())
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.output
    assert r.stderr.startswith(f"streamdeblur-train: error: {message}"), r.stderr
    assert r.stderr.endswith(f"; see streamdeblur-train {command} --help\n"), r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_calibrate_motion_not_finite_is_refused(tmp_path: Path) -> None:
    _error_is(
        runner.invoke(app, ["calibrate", str(tmp_path), "--motion", "0.3,inf"]),
        "Invalid value: --motion '0.3,inf' is not LO,HI of finite numbers (e.g. 0.5,3)",
    )


def test_make_data_refuses_a_set_with_no_training_pairs(photo_dir: Path, tmp_path: Path) -> None:
    """Photos all too small for --size were each skipped, and make-data exited 0 having written an empty set
    ("wrote 0 training and 0 test pairs"); --package none without --photos asked to install the packages."""
    out = tmp_path / "set"
    make = ["make-data", "-o", str(out), "--package", "none"]
    _error_is(
        runner.invoke(app, [*make, "--photos", str(photo_dir), "--size", "512x384"]),
        f"no training photo in {photo_dir} is large enough for 512x384 frames (they need a short side of 800 px or"
        " more); pass a smaller --size, or larger photos",
    )
    _error_is(
        runner.invoke(app, make),
        "no photos: --package none leaves the photo packages out, and no --photos folder was given; "
        "pass --photos FOLDER of sharp photos, or leave --package none out",
    )
    assert not out.exists()
    # refused before a set there is replaced
    small = [*make, "--photos", str(photo_dir), "--train-frames", "1", "--test-frames", "1"]
    assert (r := runner.invoke(app, [*small, "--size", "64x48"])).exit_code == 0, r.output
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    r = runner.invoke(app, [*small, "--size", "512x384", "--overwrite"])
    assert r.exit_code == 2 and "no training photo in" in r.stderr, r.output
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_a_pt_that_is_no_training_checkpoint_says_what_to_pass(tiny_gopro: Path, tmp_path: Path) -> None:
    """export, eval -w and train --resume of a .pt of bare weights said "a generator .safetensors is loaded with
    load_generator, not --resume": a function name, and an option that was not given."""
    weights = tmp_path / "model.pt"
    torch.save(build_model("deblurgan-lite", **TINY).state_dict(), weights)
    what = f"{weights} is not a streamdeblur-train checkpoint (it holds bare weights: a state dict, without the run's"
    _error_is(
        runner.invoke(app, ["export", str(weights), "-o", str(tmp_path / "g")]),
        f"{what} settings); pass a run's RUN/last.pt or RUN/best.pt (what `streamdeblur-train train` writes)",
    )
    _error_is(
        runner.invoke(app, ["eval", str(tiny_gopro), "-w", str(weights), "--json", str(tmp_path / "ev.json")]),
        f"{what} settings); pass a run's RUN/last.pt or RUN/best.pt, or an exported generator (.safetensors with"
        " its .json)",
    )
    _error_is(
        runner.invoke(app, ["train", "--resume", str(weights)]),
        f"{what} settings); pass the RUN/last.pt of the run to go on with (to start from an exported generator:"
        " --init)",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]

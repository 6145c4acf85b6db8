"""Real pairs made to look like other footage (issue 24), and the robustness panel that judges
a model by its worst condition."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from testkit import TINY_LITE, perturbed
from typer.testing import CliRunner

from streamdeblur.errors import DataError
from streamdeblur.models import save_generator
from trainer import panel as P
from trainer.checkpoint import load_any_generator
from trainer.cli import app
from trainer.config import TrainConfig, check_config
from trainer.datasets import GoProPairs, MixedPairs, training_data
from trainer.metrics import psnr
from trainer.photos import photos_in_dir
from trainer.synth import SynthConfig, finish_pair


def _checker_pair(root: Path) -> Path:
    """One pair at 640x480: a checkerboard of 32 px squares, blurred by a 15 px horizontal box."""
    y, x = np.mgrid[:480, :640]
    sharp = np.repeat((((x // 32) + (y // 32)) % 2 * 200 + 28).astype(np.uint8)[..., None], 3, axis=2)
    blurry = cv2.blur(sharp, (15, 1))
    for name, img in (("blur", blurry), ("sharp", sharp)):
        d = root / "train" / "rec" / name
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "000001.png"), img)
    return root


def _streak(b: np.ndarray, s: np.ndarray) -> int:
    """The box length (either axis; crops are turned) that best turns the sharp crop into the blurry one."""
    best = max((psnr(cv2.blur(s, k), b), k) for n in range(1, 20) for k in ((n, 1), (1, n)))
    return max(best[1])


def test_rescaled_real_crops_shrink_the_blur_with_the_frame(tmp_path: Path) -> None:
    root = _checker_pair(tmp_path / "g")
    full = GoProPairs(root, crop=96, seed=1)
    small = GoProPairs(root, crop=96, seed=1, scale=(0.35, 0.4))
    rng = np.random.default_rng(0)
    assert all(_streak(*full.sample(rng)) in (14, 15, 16) for _ in range(4))
    for _ in range(4):
        b, s = small.sample(rng)
        assert b.shape == s.shape == (96, 96, 3)
        assert _streak(b, s) in (5, 6, 7)  # 15 px at 0.35-0.4x: the blur shrinks with the frame


def test_finish_degrades_the_blurry_input_alone_and_changes_colour_on_both(photo: np.ndarray) -> None:
    crop = np.ascontiguousarray(photo[:96, :128])
    cfg = SynthConfig(
        degrade_fraction=1.0, h264_fraction=1.0, h264_crf=(30, 30), noise_sigma=(0.0, 0.0), color_jitter=0.0
    )
    b, s = finish_pair(crop.copy(), crop.copy(), np.random.default_rng(0), cfg)
    assert np.array_equal(s, crop)  # the target stays sharp and clean
    assert 25 < psnr(b, crop) < 45  # H.264 at CRF 30 left its mark on the input
    toned = SynthConfig(degrade_fraction=0.0, color_jitter=0.0, gamma=0.5)
    changes = [finish_pair(crop.copy(), crop.copy(), np.random.default_rng(k), toned) for k in range(6)]
    assert all(np.array_equal(b, s) for b, s in changes)  # the same tone change on both
    assert any(abs(float(b.mean()) - float(crop.mean())) > 3 for b, _ in changes)


def test_real_augment_reaches_the_real_pairs_of_a_mixed_run_and_batches_repeat(
    tiny_gopro: Path, photo_dir: Path
) -> None:
    base = dict(
        photos=str(photo_dir),
        allow_missing_packages=True,
        packages=(),
        real_data=str(tiny_gopro),
        real_fraction=0.5,
        crop=32,
        batch_size=4,
        seed=2,
    )
    plain = training_data(TrainConfig(**base))
    aug = training_data(
        TrainConfig(
            **base, real_augment=True, real_scale=(0.5, 1.0), degrade_fraction=0.9, h264_fraction=0.5, gamma=0.2
        )
    )
    assert isinstance(aug, MixedPairs) and isinstance(plain, MixedPairs)
    assert "augment" in aug.describe()["real"] and "augment" not in plain.describe()["real"]
    assert aug.real.finish is not None and aug.real.finish.h264_fraction == 0.5
    b0, s0 = aug.batch(3)
    b1, s1 = aug.batch(3)
    assert np.array_equal(b0.numpy(), b1.numpy()) and np.array_equal(s0.numpy(), s1.numpy())


def test_bad_real_scale_and_fractions_are_refused_naming_the_option() -> None:
    with pytest.raises(DataError, match="--real-scale"):
        check_config(TrainConfig(real_scale=(0.0, 1.0)))
    with pytest.raises(DataError, match="--real-scale"):
        check_config(TrainConfig(real_scale=(0.5, 1.5)))
    with pytest.raises(DataError, match="--h264-fraction"):
        check_config(TrainConfig(h264_fraction=1.5))
    with pytest.raises(DataError, match="--gamma"):
        check_config(TrainConfig(gamma=-0.1))


def _clip(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264rgb", rate=10, options={"crf": "0"})
        st.width, st.height, st.pix_fmt = frames[0].shape[1], frames[0].shape[0], "rgb24"
        for f in frames:
            c.mux(st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(st.encode())


def test_panel_scores_every_condition_and_judges_the_worst_row(
    tmp_path: Path, tiny_gopro: Path, photo: np.ndarray, tiny_weights: Path
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    sharp = [np.ascontiguousarray(photo[i : i + 64, i : i + 96]) for i in range(4)]
    _clip(clips / "pan_sharp.mp4", sharp)
    _clip(clips / "pan.mp4", [cv2.blur(f, (5, 1)) for f in sharp])
    nudged, _ = save_generator(perturbed("deblurgan-lite", **TINY_LITE), tmp_path / "candidate-with-a-long-name")
    result = P.panel(tiny_gopro, [str(tiny_weights), str(nudged)], samples=clips, clip_stride=2, photos=False)
    names = [r["condition"] for r in result["rows"]]
    assert names == [n for n, _ in P.REAL_CONDITIONS] + ["clip pan.mp4"]
    half = next(r for r in result["rows"] if r["condition"] == "real, 0.5x size")
    assert half["size"] == "32x24"  # both frames at half of 64x48
    assert next(r for r in result["rows"] if r["condition"] == "clip pan.mp4")["frames"] == 2
    identity, moved = result["methods"]
    assert all(abs(r["models"][identity]["gain"]) < 1e-6 for r in result["rows"])  # the untrained model is the identity
    gains = [r["models"][moved]["gain"] for r in result["rows"]]
    s = result["summary"][moved]
    assert len(set(gains)) > 3  # the conditions differ
    assert s["worst_gain"] == min(gains) and s["worst_row"] == names[gains.index(min(gains))]
    assert s["pass_through_psnr"] < 99 and len(s["color_shift"]) == 3
    text = P.format_panel(result)
    assert "worst row" in text and "real, H.264 CRF 23" in text
    header = text.splitlines()[1]
    assert all(f" {lab}" in header for lab in result["methods"])  # long names whole, not cut short


def test_train_split_panel_has_nothing_held_out(
    tmp_path: Path, tiny_gopro: Path, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``eval --split train``: the train pairs, training photos for the synthetic rows, clips made
    like the samples from a training photo in place of the sample clips."""
    monkeypatch.setattr(P, "find_photos", lambda *a, **k: photos_in_dir(photo_dir, holdout=2))
    monkeypatch.setattr(P, "SYNTH_SIZE", (64, 48))  # the rows as the real panel builds them, smaller
    monkeypatch.setattr(P, "TRAIN_CLIP_SIZE", (64, 36))
    monkeypatch.setattr(P, "TRAIN_CLIP_FRAMES", 12)
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "pan.mp4").write_bytes(b"")  # never opened with split train
    (clips / "pan_sharp.mp4").write_bytes(b"")
    test_rows, _ = P.panel_sets(tiny_gopro, split="test", samples=None)
    train_rows, notes = P.panel_sets(tiny_gopro, split="train", samples=clips)
    names = [n for n, _ in train_rows]
    assert "synthetic, mild blur, train photos" in names and not any(n.startswith("clip ") for n in names)
    assert any("sample clip rows skipped" in n for n in notes)
    train_photo = next(p for p in photos_in_dir(photo_dir, holdout=2) if p.split == "train")
    clip = dict(train_rows)[f"clip-like, {train_photo.name} (train)"]
    assert len(clip) == 3  # 12 frames, every 4th
    for b, s in clip:
        assert b.shape == (36, 64, 3) and 18 < psnr(b, s) < 40  # blurred by the moving camera, not a copy
    real = {n: pairs for n, pairs in train_rows}["real, as published"]
    train_pairs = [(b, s) for b, s, _, _ in GoProPairs(tiny_gopro, "train")]
    assert len(real) == len(train_pairs) and all(np.array_equal(a[0], b[0]) for a, b in zip(real, train_pairs))
    # the synthetic rows are made from the other photo: same seeds, different pictures
    test_mild = dict(test_rows)["synthetic, mild blur"]
    train_mild = dict(train_rows)["synthetic, mild blur, train photos"]
    assert not np.array_equal(test_mild[0][1], train_mild[0][1])


def test_panel_conditions_change_what_they_say(photo: np.ndarray) -> None:
    b = np.ascontiguousarray(photo[:96, :128])
    s = b.copy()
    for name, change in P.REAL_CONDITIONS[1:]:
        b2, s2 = change(b, s, 0)
        if "size" in name or "brighter" in name or "darker" in name:
            assert not np.array_equal(s2, s) or s2.shape != s.shape, name  # both frames change
        else:
            assert np.array_equal(s2, s) and not np.array_equal(b2, b), name  # the blurry frame alone
    bright, _ = dict(P.REAL_CONDITIONS)["real, brighter (x1.5)"](b, s, 0)
    assert bright.mean() > b.mean() + 5


def test_eval_cli_prints_the_panel_and_writes_it(tmp_path: Path, tiny_gopro: Path, tiny_weights: Path) -> None:
    out = tmp_path / "eval.json"
    r = CliRunner().invoke(
        app,
        [
            "eval",
            str(tiny_gopro),
            "-w",
            str(tiny_weights),
            "--samples",
            str(tmp_path / "none"),
            "--no-synthetic",
            "--json",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "robustness panel" in r.output and "worst row" in r.output
    saved = json.loads(out.read_text())
    assert len(saved["panel"]["rows"]) >= len(P.REAL_CONDITIONS)


def test_eval_keeps_two_generators_of_the_same_file_name_apart(
    tmp_path: Path, tiny_gopro: Path, tiny_weights: Path
) -> None:
    """Two ``deblurgan-lite.safetensors`` from different folders (the shipped one and a new
    export, say) are two columns named by their paths, not one column that hides the other."""
    a, b = tmp_path / "a" / "deblurgan-lite", tmp_path / "b" / "deblurgan-lite"
    save_generator(load_any_generator(tiny_weights), a)
    save_generator(perturbed("deblurgan-lite", **TINY_LITE), b)
    out = tmp_path / "eval.json"
    args = ["eval", str(tiny_gopro), "-w", f"{a}.safetensors", "-w", f"{b}.safetensors", "--json", str(out)]
    r = CliRunner().invoke(app, [*args, "--samples", str(tmp_path / "none"), "--no-synthetic"])
    assert r.exit_code == 0, r.output
    saved = json.loads(out.read_text())
    assert saved["panel"]["methods"] == [f"{a}.safetensors", f"{b}.safetensors"]
    gains = [saved["panel"]["summary"][m]["worst_gain"] for m in saved["panel"]["methods"]]
    assert gains[0] != gains[1]  # each column is its own model


def test_clip_picture_shows_blurry_and_deblurred_whole_and_enlarged(
    tmp_path: Path, photo: np.ndarray, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README quotes `streamdeblur-train side-by-side samples/mountains.mp4`; it wrote docs/sidebyside.png
    (in the repository: the shipped GoPro figure, replaced without a word). Its picture is NAME-side-by-side.jpg
    where it is run, and an existing picture is replaced only with --overwrite."""
    from trainer.side_by_side import clip_side_by_side

    sharp = [np.ascontiguousarray(photo[i : i + 96, i : i + 128]) for i in range(3)]
    _clip(tmp_path / "pan_sharp.mp4", sharp)
    _clip(tmp_path / "pan.mp4", [cv2.blur(f, (7, 1)) for f in sharp])
    shown = clip_side_by_side(tmp_path / "pan.mp4", tiny_weights, tmp_path / "pic.png")
    pic = cv2.imread(str(tmp_path / "pic.png"))
    assert pic.shape == (192, 256, 3)  # two 128x96 frames wide, whole over enlarged
    assert shown["frame"] == 1 and shown["psnr_deblurred"] == pytest.approx(
        shown["psnr_blurry"]
    )  # the tiny model is the identity
    with pytest.raises(DataError, match="no frame 7"):
        clip_side_by_side(tmp_path / "pan.mp4", tiny_weights, tmp_path / "x.png", frame=7)
    r = CliRunner().invoke(
        app,
        [
            "side-by-side",
            str(tmp_path / "pan.mp4"),
            "-w",
            str(tiny_weights),
            "-o",
            str(tmp_path / "c.jpg"),
            "--frame",
            "0",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "frame 0: blurry" in r.output and cv2.imread(str(tmp_path / "c.jpg")).shape == (192, 256, 3)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "sidebyside.png").write_bytes(b"the shipped figure")
    args = ["side-by-side", "pan.mp4", "-w", str(tiny_weights)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "wrote pan-side-by-side.jpg", r.output
    assert cv2.imread("pan-side-by-side.jpg").shape == (192, 256, 3)
    assert (tmp_path / "docs" / "sidebyside.png").read_bytes() == b"the shipped figure"
    before = (tmp_path / "pan-side-by-side.jpg").read_bytes()
    r = CliRunner().invoke(app, [*args, "--frame", "0"])
    assert r.exit_code == 2 and r.stderr.splitlines() == [
        "streamdeblur-train: error: pan-side-by-side.jpg exists; pass --overwrite to replace it, or --out another name"
    ]
    assert (tmp_path / "pan-side-by-side.jpg").read_bytes() == before
    r = CliRunner().invoke(app, [*args, "--frame", "0", "--overwrite"])
    assert r.exit_code == 0 and (tmp_path / "pan-side-by-side.jpg").read_bytes() != before


def test_the_panel_says_when_it_finds_no_sample_clips(tmp_path: Path) -> None:
    """eval run outside the repository's folder (--samples defaults to ./samples) left the clip rows out
    without a word, and the worst row was judged on fewer rows: a note says so, and how to point at them."""
    from trainer.panel import panel_sets

    rows, notes = panel_sets(None, samples=tmp_path / "nope", photos=False)
    assert rows == [] and any(
        n.startswith(f"sample clip rows skipped: no NAME.mp4 + NAME_sharp.mp4 clips in {tmp_path / 'nope'}")
        for n in notes
    ), notes
    repo_samples = Path(__file__).resolve().parents[2] / "samples"
    rows, notes = panel_sets(None, samples=repo_samples, photos=False, clip_stride=60)
    assert [name for name, _ in rows] == ["clip mountains.mp4", "clip wine.mp4"] and notes == []

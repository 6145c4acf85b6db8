"""Real pairs mixed into synthetic ones, and the synthesis recalibrated towards real blur."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from streamdeblur.errors import DataError
from trainer import calibrate as C
from trainer import camera
from trainer.config import TrainConfig, check_config
from trainer.datasets import GoProPairs, MixedPairs, SyntheticPairs, training_data
from trainer.metrics import psnr
from trainer.photos import photos_in_dir
from trainer.synth import SynthConfig, synth_pair


def test_mixed_batches_hold_real_and_synthetic_crops_in_the_asked_share(tiny_gopro: Path, photo_dir: Path) -> None:
    real = GoProPairs(tiny_gopro, "train", crop=32, seed=3)
    synth = SyntheticPairs(photos_in_dir(photo_dir), crop=32, batch_size=1, seed=3)
    # every real crop is a window of one of the real frames (up to flips/turns): find it
    frames = [real.read(i)[1] for i in range(len(real))]

    def is_real(sharp: torch.Tensor) -> bool:
        crop = (sharp.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        variants = [np.rot90(c, k) for c in (crop, crop[:, ::-1]) for k in range(4)]
        for f in frames:
            for v in variants:
                if v.shape[0] > f.shape[0] or v.shape[1] > f.shape[1]:
                    continue
                for y in range(f.shape[0] - v.shape[0] + 1):
                    for x in range(f.shape[1] - v.shape[1] + 1):
                        if np.array_equal(f[y : y + v.shape[0], x : x + v.shape[1]], v):
                            return True
        return False

    mixed = MixedPairs(real, synth, 0.5, batch_size=8, seed=3)
    b, s = mixed.batch(0)
    assert b.shape == (8, 3, 32, 32)
    assert torch.equal(b, mixed.batch(0)[0])  # batch k depends only on (seed, k)
    kinds = [is_real(x) for step in range(3) for x in mixed.batch(step)[1]]
    assert 4 <= sum(kinds) <= 20, kinds  # about half of 24
    assert not any(is_real(x) for x in MixedPairs(real, synth, 0.0, batch_size=4, seed=3).batch(0)[1])
    assert all(is_real(x) for x in MixedPairs(real, synth, 1.0, batch_size=4, seed=3).batch(0)[1])


def test_training_data_mixes_with_real_data_and_refuses_data_and_real_data(tiny_gopro: Path, photo_dir: Path) -> None:
    cfg = TrainConfig(
        photos=str(photo_dir),
        allow_missing_packages=True,
        packages=(),
        real_data=str(tiny_gopro),
        real_fraction=0.5,
        crop=32,
        batch_size=2,
    )
    ds = training_data(cfg)
    assert isinstance(ds, MixedPairs) and ds.describe()["kind"] == "mixed"
    with pytest.raises(DataError, match="--real-data"):
        check_config(TrainConfig(data=str(tiny_gopro), real_data=str(tiny_gopro)))
    with pytest.raises(DataError, match="--motion"):
        check_config(TrainConfig(motion=(3.0, 1.0)))


def test_continuous_blur_is_a_streak_not_ghost_copies(photo: np.ndarray) -> None:
    # fast motion (about 6 px per sub-frame): sub-frames alone leave sharp ghost copies
    ghost, sharp = camera.gopro_pair(photo, (96, 96), 4, subframes=7, motion=3.0)
    smooth, sharp2 = camera.gopro_pair(photo, (96, 96), 4, subframes=7, motion=3.0, continuous=True)
    assert np.array_equal(sharp, sharp2)  # same camera path, same sharp target
    # a streak has less high-frequency energy left than 7 sharp copies
    assert C.blur_sigma(smooth, sharp) > C.blur_sigma(ghost, sharp) + 0.2
    # and with no motion there is nothing to integrate: both stay the photo
    still, still_sharp = camera.gopro_pair(photo, (96, 96), 4, subframes=7, motion=0.0, continuous=True)
    assert psnr(still, still_sharp) > 45


def test_moving_objects_blur_differently_from_the_background(photo: np.ndarray) -> None:
    plain, sharp = camera.gopro_pair(photo, (128, 96), 9, subframes=9, motion=0.2)
    with_obj, sharp_obj = camera.gopro_pair(photo, (128, 96), 9, subframes=9, motion=0.2, objects=2)
    # the objects are in the sharp target too, and they add blur the slow camera alone does not
    assert not np.array_equal(sharp, sharp_obj)
    assert psnr(with_obj, sharp_obj) < psnr(plain, sharp) - 0.5


def test_calibration_measures_stronger_synthetic_blur_for_faster_motion(
    tiny_gopro: Path, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(C, "find_photos", lambda *a, **k: photos_in_dir(photo_dir))
    r = C.calibrate(tiny_gopro, [(0.1, 0.3), (2.0, 4.0)], crop=40, samples=12)
    rows = {row["source"].split(",")[0]: row for row in r["rows"]}
    assert [row["n"] for row in r["rows"]] == [12, 12, 12]
    slow, fast = rows["synthetic motion 0.1-0.3"], rows["synthetic motion 2-4"]
    assert fast["psnr"]["mean"] < slow["psnr"]["mean"] - 2
    assert fast["sigma"]["mean"] > slow["sigma"]["mean"]
    assert rows["real train"]["psnr"]["mean"] < 60


def test_motion_log_trains_more_mild_blur_over_a_wide_range(photo: np.ndarray) -> None:
    """--motion 0.3,8: uniform draws make most pairs strongly blurred; --motion-log keeps mild ones common."""

    def blur_psnrs(log: bool) -> list[float]:
        cfg = SynthConfig(motion=(0.3, 8.0), motion_log=log, color_jitter=0.0, degrade_fraction=0.0)
        pairs = [synth_pair(photo, (64, 48), np.random.default_rng([5, i]), cfg, kind="gopro") for i in range(40)]
        return [psnr(b, s) for b, s, _ in pairs]

    uniform, logu = blur_psnrs(False), blur_psnrs(True)
    assert np.median(logu) > np.median(uniform) + 1  # the typical pair is milder (about +2 dB here)
    assert np.mean(np.array(logu) > 30) > 2 * np.mean(np.array(uniform) > 30)  # and mild pairs are common
    assert max(uniform) > 30 and min(logu) < np.percentile(uniform, 25)  # the range is the same at both ends
    with pytest.raises(DataError, match="--motion-log needs a positive LO"):
        check_config(TrainConfig(motion=(0.0, 8.0), motion_log=True))


def test_ghost_fraction_keeps_some_pairs_as_discrete_copies(photo: np.ndarray) -> None:
    """--continuous-blur smooths fast motion into streaks; --ghost-fraction leaves that share as 7-13 copies."""

    def edge_energy(cfg: SynthConfig) -> list[float]:
        out = []
        for i in range(12):
            b, _, _ = synth_pair(photo, (96, 64), np.random.default_rng([9, i]), cfg, kind="gopro")
            out.append(float(np.abs(np.diff(b.astype(np.float32), axis=1)).mean()))
        return out

    base = {"motion": (6.0, 8.0), "color_jitter": 0.0, "degrade_fraction": 0.0, "continuous": True}
    streaks = edge_energy(SynthConfig(**base))
    ghosts = edge_energy(SynthConfig(**base, ghost_fraction=1.0))
    # ghost copies keep each copy's edges (only dimmed); a streak smears them out
    assert np.mean(ghosts) > 1.5 * np.mean(streaks)  # about 2x here
    assert edge_energy(SynthConfig(**base, ghost_fraction=0.0)) == streaks  # off: the same pairs as before
    with pytest.raises(DataError, match="--ghost-fraction 0.5 needs --continuous-blur"):
        check_config(TrainConfig(ghost_fraction=0.5))
    with pytest.raises(DataError, match="--ghost-fraction must be between 0 and 1"):
        check_config(TrainConfig(ghost_fraction=1.5, continuous_blur=True))


def _ramp() -> np.ndarray:
    """A 640x480 photo of smooth colour ramps: a crop's span shows how much of it a view covers."""
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    return np.dstack([xx / 640 * 200 + 20, yy / 480 * 200 + 20, (xx + yy) / 1120 * 200 + 20]).astype(np.uint8)


def _roughness(img: np.ndarray) -> float:
    """A smooth ramp stays smooth unless noise is added."""
    return float(np.abs(np.diff(img.astype(np.float32), n=2, axis=1)).mean())


def test_scene_fraction_draws_clean_views_of_a_whole_scene_in_its_share() -> None:
    """--scene-fraction: that share of synthetic pairs is a handheld camera's view of the whole scene,
    left clean even where every other pair gets noise and compression."""
    smooth = _ramp()
    cfg = SynthConfig(
        motion=(1.0, 2.0), degrade_fraction=1.0, noise_sigma=(0.05, 0.05), jpeg_quality=(90, 90), scene_fraction=0.4
    )
    pairs = [synth_pair(smooth, (64, 64), np.random.default_rng([12, i]), cfg) for i in range(60)]
    kinds = [k for _, _, k in pairs]
    assert 0.25 < kinds.count("scene") / len(kinds) < 0.55  # 40 % asked

    scene = [_roughness(b) for b, _, k in pairs if k == "scene"]
    others = [_roughness(b) for b, _, k in pairs if k != "scene"]
    assert max(scene) < 1.0 < min(others)  # noise of 12 levels on every other pair; none on a scene
    assert all(b.shape == s.shape == (64, 64, 3) for b, s, _ in pairs)
    with pytest.raises(DataError, match="--scene-fraction must be between 0 and 1"):
        check_config(TrainConfig(scene_fraction=1.5))


def test_scene_compress_stores_the_blurry_view_as_video_is_stored() -> None:
    """--scene-compress: that share of the whole-scene views gets sensor noise and H.264 on its blurry
    input (as a phone or the sample clips store video), never on its sharp target; off, the same pairs."""
    smooth = _ramp()
    base = {"motion": (1.0, 2.0), "noise_sigma": (0.05, 0.05), "h264_crf": (18, 18), "scene_fraction": 1.0}

    def pairs(**extra: float) -> list[tuple[np.ndarray, np.ndarray, str]]:
        cfg = SynthConfig(**base, **extra)
        return [synth_pair(smooth, (64, 64), np.random.default_rng([13, i]), cfg) for i in range(24)]

    clean, half, stored = pairs(), pairs(scene_compress=0.5), pairs(scene_compress=1.0)
    assert all(k == "scene" for _, _, k in clean + half + stored)
    assert max(_roughness(b) for b, _, _ in clean) < 1.0 < min(_roughness(b) for b, _, _ in stored)
    rough = [_roughness(b) > 1.0 for b, _, _ in half]
    assert 0.2 < sum(rough) / len(rough) < 0.8  # half asked
    assert max(_roughness(s) for _, s, _ in stored) < 1.0  # the target stays clean
    for (b0, s0, _), (b1, s1, _) in zip(clean, pairs(scene_compress=0.0), strict=True):
        assert np.array_equal(b0, b1) and np.array_equal(s0, s1)  # off: the same pairs as before
    with pytest.raises(DataError, match="--scene-compress must be between 0 and 1"):
        check_config(TrainConfig(scene_compress=1.5))


def test_scene_zoom_renders_the_view_as_large_as_a_video_frame_and_crops_it() -> None:
    """--scene-zoom: a whole-scene view rendered at twice the crop's size shows, in a crop, half of what
    the crop-sized view shows (its detail and blur twice as many pixels long, as in a 640x360 clip);
    off, the same pairs as before."""
    ramp = _ramp()
    base = {"motion": (1.0, 2.0), "scene_fraction": 1.0}

    def pairs(**extra: tuple[float, float]) -> list[tuple[np.ndarray, np.ndarray, str]]:
        cfg = SynthConfig(**base, **extra)
        return [synth_pair(ramp, (64, 48), np.random.default_rng([14, i]), cfg) for i in range(16)]

    def span(pairs: list[tuple[np.ndarray, np.ndarray, str]]) -> float:  # how much of the ramp a crop covers
        return float(
            np.mean([np.ptp(s[..., 0].astype(np.float32)) + np.ptp(s[..., 1].astype(np.float32)) for _, s, _ in pairs])
        )

    crop_sized, doubled = pairs(), pairs(scene_zoom=(2.0, 2.0))
    assert all(b.shape == s.shape == (48, 64, 3) for b, s, _ in doubled)
    assert 0.35 < span(doubled) / span(crop_sized) < 0.65  # half the view in the crop
    for (b0, s0, _), (b1, s1, _) in zip(crop_sized, pairs(scene_zoom=(1.0, 1.0)), strict=True):
        assert np.array_equal(b0, b1) and np.array_equal(s0, s1)  # off: the same pairs as before
    with pytest.raises(DataError, match="--scene-zoom must be LO,HI with 1 <= LO <= HI <= 4"):
        check_config(TrainConfig(scene_zoom=(0.5, 2.0)))


def test_a_runs_pair_settings_come_back_the_same_from_its_json_log() -> None:
    """The range options come back from a run's saved settings (JSON: lists) as the ranges they were,
    so a resumed or described run draws the same pairs."""
    cfg = TrainConfig(scene_zoom=(1.0, 3.0), real_scale=(0.35, 1.0), motion=(0.3, 8.0), scene_compress=0.5)
    back = TrainConfig.from_dict(json.loads(json.dumps(asdict(cfg))))
    assert back == cfg and isinstance(back.scene_zoom, tuple)


def test_scene_motion_sets_how_fast_the_whole_scene_views_move() -> None:
    """--scene-motion: the whole-scene views' camera speed; a fast range blurs them far more than a slow
    one (the panel's strong blur is speed 4-7), and the default is the range they always had."""
    texture = np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)

    def pairs(**extra: tuple[float, float]) -> list[tuple[np.ndarray, np.ndarray, str]]:
        cfg = SynthConfig(scene_fraction=1.0, **extra)
        return [synth_pair(texture, (64, 48), np.random.default_rng([15, i]), cfg) for i in range(8)]

    def blur_db(pairs: list[tuple[np.ndarray, np.ndarray, str]]) -> float:  # the blurry input's PSNR
        return float(np.mean([psnr(b, s) for b, s, _ in pairs]))

    slow, fast = pairs(scene_motion=(0.3, 0.5)), pairs(scene_motion=(4.0, 6.0))
    assert blur_db(fast) < blur_db(slow) - 3.0  # about 13 against 19 dB
    for (b0, s0, _), (b1, s1, _) in zip(pairs(), pairs(scene_motion=(0.3, 3.0)), strict=True):
        assert np.array_equal(b0, b1) and np.array_equal(s0, s1)  # the default: the pairs every recipe had
    saved = json.loads(json.dumps(asdict(TrainConfig(scene_motion=(0.5, 6.0)))))  # a run's settings, as stored
    assert TrainConfig.from_dict(saved).scene_motion == (0.5, 6.0)
    with pytest.raises(DataError, match="--scene-motion must be LO,HI with 0 < LO <= HI <= 8"):
        check_config(TrainConfig(scene_motion=(0.0, 2.0)))

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from testkit import TINY_LITE

from streamdeblur.errors import OutputError, WeightsError
from streamdeblur.models import build_model, load_generator
from trainer.blur import blur_with_psf
from trainer.checkpoint import export_checkpoint, generator_from_checkpoint, load_checkpoint
from trainer.config import TrainConfig
from trainer.evaluate import evaluate
from trainer.images import to_tensor
from trainer.losses import PixelLoss
from trainer.train import train

# a generator small enough to train in a second on one core


def _cfg(root: Path, out: Path, **kw) -> TrainConfig:
    base = TrainConfig(
        out=str(out),
        model="deblurgan-lite",
        model_args=TINY_LITE,
        data=str(root),
        val_data=str(root),
        val_frames=4,
        steps=6,
        batch_size=2,
        crop=32,
        lr=2e-3,
        log_every=1,
        val_every=3,
        ckpt_every=3,
        seed=3,
        prefetch=1,
    )
    return replace(base, **kw)


@pytest.mark.parametrize(
    ("arch", "args", "factor", "cpu_amp"),
    [
        # random init: the loss falls fast as it learns to pass the frame through
        ("deblurgan", {"base_channels": 8, "n_blocks": 1, "dropout": 0.0}, 0.5, False),
        # identity init: the loss starts at the blur itself and falls slowly but surely
        ("deblurgan-lite", TINY_LITE, 0.985, False),
        # the same in bfloat16 on the CPU (--cpu-amp): it learns too
        ("deblurgan-lite", TINY_LITE, 0.985, True),
    ],
)
def test_a_few_steps_lower_the_content_loss(
    tmp_path: Path, photo: np.ndarray, arch: str, args: dict, factor: float, cpu_amp: bool
) -> None:
    # one 32x32 crop with a fixed 5-pixel horizontal blur: a task a tiny model can fit
    psf = np.zeros((5, 5), np.float32)
    psf[2, :] = 0.2
    sharp = photo[100:132, 150:182]
    blurry = blur_with_psf(photo, psf)[100:132, 150:182]
    for kind, img in (("blur", blurry), ("sharp", sharp)):
        (tmp_path / "set" / "train" / "traj_crop" / kind).mkdir(parents=True)
        cv2.imwrite(
            str(tmp_path / "set" / "train" / "traj_crop" / kind / "000000.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        )
    loss = PixelLoss("l1", 0.05)

    def content(model: torch.nn.Module) -> float:
        with torch.no_grad():
            return loss(model.eval()(to_tensor([blurry])), to_tensor([sharp])).item()

    steps = 40 if arch == "deblurgan" else 60
    cfg = TrainConfig(
        out=str(tmp_path / "run"),
        model=arch,
        model_args=args,
        data=str(tmp_path / "set"),
        steps=steps,
        decay_start=steps,
        batch_size=4,
        crop=32,
        lr=5e-3,
        log_every=1,
        val_every=1000,
        ckpt_every=steps,
        seed=3,
        prefetch=1,
        device="cpu",
        cpu_amp=cpu_amp,
    )
    torch.manual_seed(cfg.seed)  # the same initial weights train() will draw
    start = content(build_model(arch, **args))
    events: list[tuple[str, dict]] = []
    summary = train(cfg, on_event=lambda k, i: events.append((k, i)))
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    end = content(generator_from_checkpoint(ck))
    assert end < start * factor, (start, end)
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "checkpoint" in kinds
    assert events[0][1]["amp"] == ("cpu" if cpu_amp else None)
    assert summary["step"] == steps and ck["step"] == steps
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert sum(line["event"] == "step" for line in lines) == steps


def test_validation_scores_each_blur_kind(tiny_gopro: Path, tmp_path: Path) -> None:
    events: list[tuple[str, dict]] = []
    train(_cfg(tiny_gopro, tmp_path / "run", steps=2, val_every=2), on_event=lambda k, i: events.append((k, i)))
    val = [i for k, i in events if k == "val"][-1]
    assert set(val["metrics"]) == {"gopro", "traj", "all"} == set(val["input"])
    assert val["metrics"]["all"]["n"] == 4
    start = [i for k, i in events if k == "start"][0]
    assert 15 < start["input_scores"]["all"]["psnr"] < 60 and 15 < val["metrics"]["all"]["psnr"] < 60
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "last.pt").is_file()


@pytest.mark.parametrize(
    ("adversarial", "ema"), [(False, False), (True, False), (False, True)], ids=["content", "wgan-gp", "ema"]
)
def test_resume_continues_exactly(tiny_gopro: Path, tmp_path: Path, adversarial: bool, ema: bool) -> None:
    extra = {"adv_start_step": 2, "critic_steps": 2, "critic_width": 8} if adversarial else {}
    if ema:
        extra["ema_decay"] = 0.9
    full = _cfg(tiny_gopro, tmp_path / "full", **extra)
    train(full)

    class Stop(Exception):
        pass

    def stop_after_first_checkpoint(kind: str, info: dict) -> None:
        if kind == "checkpoint" and info["step"] == 3:
            raise Stop

    part = _cfg(tiny_gopro, tmp_path / "part", **extra)
    with pytest.raises(Stop):
        train(part, on_event=stop_after_first_checkpoint)
    assert load_checkpoint(tmp_path / "part" / "last.pt")["step"] == 3
    train(part, resume=tmp_path / "part" / "last.pt")

    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "last.pt")
    assert a["step"] == b["step"] == 6
    for k, v in a["model"]["state"].items():
        assert torch.equal(v, b["model"]["state"][k]), k
    if adversarial:
        for k, v in a["critic"]["state"].items():
            assert torch.equal(v, b["critic"]["state"][k]), k
        assert a["opt_d"]["state"][0]["exp_avg"].equal(b["opt_d"]["state"][0]["exp_avg"])
    if ema:
        for k, v in a["ema"]["state"].items():
            assert torch.equal(v, b["ema"]["state"][k]), k
    assert a["opt_g"]["state"][0]["exp_avg_sq"].equal(b["opt_g"]["state"][0]["exp_avg_sq"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


class Stop(Exception):
    pass


def _stop_at(step: int) -> Callable[[str, dict], None]:
    """A training event callback that stops the run (as Ctrl-C would) once it reports ``step``."""

    def on_event(kind: str, info: dict) -> None:
        if kind == "step" and info["step"] == step:
            raise Stop

    return on_event


def test_a_run_stopped_past_its_checkpoint_logs_each_step_once_when_resumed(tiny_gopro: Path, tmp_path: Path) -> None:
    """Ctrl-C between checkpoints: the log had steps 4 and 5 of the stopped run, and the resumed run (from
    step 3) wrote them again. The log is cut back to the checkpoint's step; an older checkpoint than the
    run's last.pt is not gone on from (it would replace the later one), and nothing is touched."""
    run = tmp_path / "run"

    with pytest.raises(Stop):
        train(_cfg(tiny_gopro, run), on_event=_stop_at(5))
    assert load_checkpoint(run / "last.pt")["step"] == 3
    shutil.copy(run / "last.pt", tmp_path / "step3.pt")
    train(_cfg(tiny_gopro, run), resume=run / "last.pt")
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if line["event"] == "step"] == [1, 2, 3, 4, 5, 6]

    with pytest.raises(OutputError, match=r"step3.pt is at step 3, and going on from it would replace .* \(step 6\)"):
        train(_cfg(tiny_gopro, run, steps=8), resume=tmp_path / "step3.pt")
    assert load_checkpoint(run / "last.pt")["step"] == 6
    with pytest.raises(OutputError, match="holds a run already"):
        train(_cfg(tiny_gopro, run))


def test_a_run_resumed_into_another_folder_takes_its_log_and_best_with_it(tiny_gopro: Path, tmp_path: Path) -> None:
    """`--resume runs/a/last.pt --out runs/b` (the disk was full, the run moves): runs/b had only the steps
    after the checkpoint in its log and no best.pt, so `export runs/b/best.pt` failed and the log said the
    run started at step 4. The new folder now starts with what the old one held up to the checkpoint."""
    a, b = tmp_path / "a", tmp_path / "b"

    with pytest.raises(Stop):
        train(_cfg(tiny_gopro, a), on_event=_stop_at(5))
    log_a = (a / "log.jsonl").read_text()
    train(_cfg(tiny_gopro, b), resume=a / "last.pt")
    lines = [json.loads(line) for line in (b / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if line["event"] == "step"] == [1, 2, 3, 4, 5, 6]
    assert (b / "best.pt").is_file() and load_checkpoint(b / "best.pt")["step"] in (3, 6)
    assert (a / "log.jsonl").read_text() == log_a  # the old folder is left as it was
    assert load_checkpoint(a / "last.pt")["step"] == 3


def test_resume_refuses_another_architecture(tiny_gopro: Path, tmp_path: Path) -> None:
    train(_cfg(tiny_gopro, tmp_path / "run", steps=1, ckpt_every=1, val_every=1))
    with pytest.raises(WeightsError, match="'deblurgan-lite' run but --model 'deblurgan'"):
        train(_cfg(tiny_gopro, tmp_path / "run", model="deblurgan"), resume=tmp_path / "run" / "last.pt")


def test_export_then_load_generator_gives_identical_outputs(tiny_gopro: Path, tmp_path: Path) -> None:
    train(_cfg(tiny_gopro, tmp_path / "run", steps=4))
    ev = evaluate(tiny_gopro, [str(tmp_path / "run" / "last.pt")], max_frames=2)
    (tmp_path / "eval.json").write_text(json.dumps(ev))
    w, card = export_checkpoint(
        tmp_path / "run" / "last.pt", tmp_path / "out" / "tiny", metrics_json=tmp_path / "eval.json"
    )
    assert w.name == "tiny.safetensors" and card.name == "tiny.json"
    meta = json.loads(card.read_text())
    assert meta["arch"] == "deblurgan-lite" and meta["args"]["width"] == 8
    assert meta["trained_on"]["steps"] == 4 and meta["trained_on"]["data"]["kind"] == "gopro"
    assert "psnr" in meta["metrics"]["eval"]["model"]["all"] and "validation" in meta["metrics"]
    trained = generator_from_checkpoint(load_checkpoint(tmp_path / "run" / "last.pt")).eval()
    loaded = load_generator(w)
    x = torch.rand(1, 3, 37, 53)
    with torch.no_grad():
        assert torch.equal(trained(x), loaded(x))
    # and the exported generator can be scored like a checkpoint
    ev2 = evaluate(tiny_gopro, [str(w)], max_frames=2)
    assert ev2["results"]["tiny.safetensors"]["all"]["psnr"] == pytest.approx(
        ev["results"][str(tmp_path / "run" / "last.pt")]["all"]["psnr"]
    )
    # each frame's pass-through PSNR is there too, and the table's mean is their mean
    through = [f["psnr_on_sharp"]["tiny.safetensors"] for f in ev2["per_frame"]]
    assert len(through) == 2 and "input" not in ev2["per_frame"][0]["psnr_on_sharp"]
    assert np.mean(through) == pytest.approx(ev2["results"]["tiny.safetensors"]["all"]["psnr_on_sharp"])


def test_evaluate_reports_every_method_per_kind(tiny_gopro: Path) -> None:
    torch.manual_seed(0)
    ev = evaluate(tiny_gopro, [], split="test")
    assert ev["kinds"] == ["gopro", "traj", "all"]
    assert ev["methods"] == ["input", "unsharp"]
    assert ev["results"]["input"]["all"]["n"] == 6
    assert 15 < ev["results"]["input"]["all"]["psnr"] < 60
    # every frame's own PSNR is in the JSON, and the table's means are their means
    frames = ev["per_frame"]
    assert len(frames) == 6 and {f["kind"] for f in frames} == {"gopro", "traj"}
    assert len({(f["sequence"], f["frame"]) for f in frames}) == 6
    for label in ("input", "unsharp"):
        gopro = [f["psnr"][label] for f in frames if f["kind"] == "gopro"]
        assert np.mean(gopro) == pytest.approx(ev["results"][label]["gopro"]["psnr"])


def test_ema_run_validates_and_exports_the_average(tiny_gopro: Path, tmp_path: Path) -> None:
    events: list[tuple[str, dict]] = []
    train(_cfg(tiny_gopro, tmp_path / "run", ema_decay=0.5), on_event=lambda k, i: events.append((k, i)))
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    raw, avg = ck["model"]["state"], ck["ema"]["state"]
    assert ck["ema"]["decay"] == 0.5 and raw.keys() == avg.keys()
    # the average lags the optimiser: the trained weights differ from it
    moved = [k for k in raw if not torch.equal(raw[k], avg[k])]
    assert moved
    # the scored and exported model is the average, and the card says so
    val = [i for k, i in events if k == "val"][-1]
    assert val["weights"] == "ema"
    w, card = export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "out" / "tiny")
    assert json.loads(card.read_text())["trained_on"]["weights"] == "ema"
    exported = load_generator(w).state_dict()
    for k in moved:
        assert torch.equal(exported[k], avg[k]), k
    # the raw weights are still there for --resume
    assert torch.equal(generator_from_checkpoint(ck, ema=False).state_dict()[moved[0]], raw[moved[0]])


def test_export_records_the_validation_of_the_weights_it_exports(tiny_gopro: Path, tmp_path: Path) -> None:
    # the card of an exported last.pt gave the best validation's figures (another step's weights);
    # a learning rate this high makes step 3 the best and step 6 worse
    events: list[tuple[str, dict]] = []
    cfg = _cfg(tiny_gopro, tmp_path / "run", steps=6, val_every=3, lr=5e-2)
    train(cfg, on_event=lambda k, i: events.append((k, i)))
    vals = {i["step"]: i["metrics"]["all"]["psnr"] for k, i in events if k == "val"}
    assert sorted(vals) == [3, 6] and vals[3] > vals[6], vals
    _, card = export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "out" / "tiny")
    metrics = json.loads(card.read_text())["metrics"]
    assert metrics["validation"]["step"] == 6 and metrics["validation"]["psnr"] == pytest.approx(vals[6])
    assert metrics["best_validation"]["step"] == 3 and metrics["best_validation"]["psnr"] == pytest.approx(vals[3])
    # best.pt holds step 3's own weights: its card gives step 3's validation, and no other
    _, best_card = export_checkpoint(tmp_path / "run" / "best.pt", tmp_path / "out" / "best")
    best_metrics = json.loads(best_card.read_text())["metrics"]
    assert best_metrics["validation"]["step"] == 3 and "best_validation" not in best_metrics


def test_ema_decay_out_of_range_is_refused(tiny_gopro: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"--ema-decay must be in \[0, 1\), got 1.0"):
        train(_cfg(tiny_gopro, tmp_path / "run", ema_decay=1.0))


def test_init_with_more_blocks_grows_the_trained_generator(tiny_gopro: Path, tmp_path: Path) -> None:
    # a trained tiny generator, exported as a user would
    train(_cfg(tiny_gopro, tmp_path / "small", steps=3))
    w, _ = export_checkpoint(tmp_path / "small" / "last.pt", tmp_path / "small_g")
    small = load_generator(w)
    more = {"enc_blocks": [1, 3], "middle_blocks": 2}
    events: list[tuple[str, dict]] = []
    # one step at a negligible learning rate: the checkpoint holds the grown start
    train(
        _cfg(tiny_gopro, tmp_path / "big", init=str(w), model_args=more, steps=1, lr=1e-12, ckpt_every=1, val_every=1),
        on_event=lambda k, i: events.append((k, i)),
    )
    grown_info = [i for k, i in events if k == "grown"][0]
    assert grown_info["args"]["enc_blocks"] == [1, 3] and grown_info["args"]["width"] == 8
    assert grown_info["max_abs_change"] == 0.0
    big = generator_from_checkpoint(load_checkpoint(tmp_path / "big" / "last.pt"), ema=False).eval()
    assert big.arch_args["enc_blocks"] == [1, 3] and big.arch_args["middle_blocks"] == 2
    assert sum(p.numel() for p in big.parameters()) > sum(p.numel() for p in small.parameters())
    # every trained tensor is carried over, and the grown model computes what the small one did
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.allclose(big(x), small(x), atol=1e-6)
    big_state = big.state_dict()
    moved = [k for k, v in small.state_dict().items() if not torch.allclose(big_state[k], v, atol=1e-6)]
    assert not moved, moved


def test_init_cannot_grow_into_another_width(tiny_gopro: Path, tmp_path: Path) -> None:
    train(_cfg(tiny_gopro, tmp_path / "small", steps=1, ckpt_every=1, val_every=1))
    w, _ = export_checkpoint(tmp_path / "small" / "last.pt", tmp_path / "small_g")
    with pytest.raises(WeightsError, match=r"cannot grow into width=16: .* tensors have no place there"):
        train(_cfg(tiny_gopro, tmp_path / "wide", init=str(w), model_args={**TINY_LITE, "width": 16}))


def test_data_workers_do_not_change_the_run(tiny_gopro: Path, tmp_path: Path) -> None:
    # batches made by two processes, and a resume in between, give the single-thread run's weights
    train(_cfg(tiny_gopro, tmp_path / "thread"))

    class Stop(Exception):
        pass

    def stop_at_3(kind: str, info: dict) -> None:
        if kind == "checkpoint" and info["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        train(_cfg(tiny_gopro, tmp_path / "procs", workers=2), on_event=stop_at_3)
    train(_cfg(tiny_gopro, tmp_path / "procs", workers=2), resume=tmp_path / "procs" / "last.pt")
    a = load_checkpoint(tmp_path / "thread" / "last.pt")["model"]["state"]
    b = load_checkpoint(tmp_path / "procs" / "last.pt")["model"]["state"]
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


def test_data_workers_leave_torchs_random_stream_alone(tiny_gopro: Path) -> None:
    # the adversarial phase's gradient penalty draws from torch's RNG: starting the workers must not,
    # or a resumed run (which starts them again) would part from an unbroken one
    from trainer.config import TrainConfig
    from trainer.datasets import batch_loader, training_data

    source = training_data(TrainConfig(data=str(tiny_gopro), crop=32, batch_size=2))
    before = torch.get_rng_state()
    next(iter(batch_loader(source, 0, 2, workers=2, prefetch=1)))
    assert torch.equal(before, torch.get_rng_state())


def test_workers_must_be_positive(tiny_gopro: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--workers must be at least 1, got 0"):
        train(_cfg(tiny_gopro, tmp_path / "run", workers=0))


def test_half_export_is_half_the_file_and_within_a_level(tiny_gopro: Path, tmp_path: Path, photo: np.ndarray) -> None:
    train(_cfg(tiny_gopro, tmp_path / "run", steps=3))
    w32, _ = export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "full")
    w16, card16 = export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "half", half=True)
    assert json.loads(card16.read_text())["stored_dtype"] == "float16"
    assert w16.stat().st_size < 0.6 * w32.stat().st_size
    m32, m16 = load_generator(w32), load_generator(w16)
    assert all(p.dtype == torch.float32 for p in m16.parameters())  # runs as float32 on the CPU
    # on a real blurred photo the two outputs differ by at most one 8-bit level
    x = to_tensor([blur_with_psf(photo[:96, :128], np.full((5, 5), 1 / 25, np.float32))])
    with torch.no_grad():
        a, b = (m(x).mul(255).round() for m in (m32, m16))
    assert any(not torch.equal(p, q) for p, q in zip(m32.parameters(), m16.parameters()))  # really rounded
    assert not torch.equal(a, x.mul(255).round())  # and the generator really changes the frame
    assert (a - b).abs().max() <= 1

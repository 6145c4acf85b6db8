"""streamdeblur.batch.schedule.Schedule, without workers: tasks handed out in order, a task
whose worker died retried once, a stop that cancels what has not started, and the
progress snapshots; and the report it fills (streamdeblur.batch.reports)."""

from __future__ import annotations

import json

from streamdeblur.batch.reports import BatchResult, ItemReport
from streamdeblur.batch.schedule import Schedule
from streamdeblur.batch.tasks import FileTask, Result, TaskProgress


def schedule(n: int, **kw) -> Schedule:
    items = [ItemReport(input=f"in{i}.mkv", output=f"out/in{i}.mkv", expected_frames=10) for i in range(n)]
    return Schedule(items, segments=None, overwrite=False, **kw)


def test_tasks_go_out_in_order_and_results_finish_their_inputs():
    seen = []
    s = schedule(3, on_item=seen.append)
    s.begin(1)
    a, b = s.next_task(), s.next_task()
    assert isinstance(a, FileTask) and (a.item, b.item) == (0, 1) and a.input.endswith("in0.mkv")
    s.start(a, "w1")
    s.live(TaskProgress(a.id, 4, 10))
    assert s.snapshot().frames_done == 4 and s.snapshot().frames_total == 30 and s.snapshot().running == 1
    s.finish(a, Result("done", frames=10, backend="torch", device="cpu", warnings=("w",)))
    s.start(b, "w1")
    s.finish(b, Result("skipped", frames=10, note="complete"))
    assert [(i.status, i.frames, i.workers) for i in s.items[:2]] == [("done", 10, ["w1"]), ("skipped", 10, ["w1"])]
    assert (
        s.items[0].backend == "torch"
        and s.items[0].warnings == ["w"]
        and [i.input for i in seen] == ["in0.mkv", "in1.mkv"]
    )
    assert s.has_work()


def test_a_task_whose_worker_died_is_retried_once_then_fails():
    s = schedule(1)
    t = s.next_task()
    s.start(t, "w1")
    s.died(t, "worker w1 died (killed)")
    retry = s.next_task()
    assert retry.attempt == 2 and s.items[0].status == "running" and "retrying" in s.items[0].warnings[0]
    s.start(retry, "w2")
    s.died(retry, "worker w2 died (killed)")
    it = s.items[0]
    assert it.status == "failed" and "twice" in it.error and it.attempts == 2 and it.workers == ["w1", "w2"]
    assert s.next_task() is None


def test_a_stop_cancels_what_has_not_started_and_says_which_signal():
    s = schedule(3)
    t = s.next_task()
    s.start(t, "w1")
    s.finish(t, Result("cancelled", error="interrupted"))
    s.stopped(15)
    assert [i.status for i in s.items] == ["cancelled"] * 3
    assert s.items[1].error == "not started: the run was stopped (signal 15)" and not s.has_work()
    s2 = schedule(2)
    s2.fail_rest("no worker left")
    assert [(i.status, i.error) for i in s2.items] == [("failed", "no worker left")] * 2


def test_the_report_replaces_an_earlier_one_and_leaves_no_temporary_file(tmp_path):
    items = [
        ItemReport(input="a.mkv", output="out/a.mkv", status="done", frames=8, seconds=2.0),
        ItemReport(input="b.mkv", output="out/b.mkv", status="failed", error="bad"),
    ]
    path = tmp_path / "report.json"
    path.write_text("an earlier report")
    BatchResult(items=items, seconds=4.0, mode="this process", workers=[]).write_report(path)
    rep = json.loads(path.read_text())
    assert (rep["inputs"], rep["done"], rep["failed"], rep["frames"], rep["fps"]) == (2, 1, 1, 8, 2.0)
    assert rep["items"][0]["fps"] == 4.0 and rep["items"][1]["error"] == "bad"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_stopped_segmented_input_is_said_once_its_parts_stop_with_what_is_kept(tmp_path):
    """Ctrl-C while two parts of one input ran: its line (on_item: what `-q` shows, without the table) came
    with the first part's stop, before the other stopped, and so without "K of N parts are kept in ...:
    the same command again goes on from them", which only the table had."""
    from streamdeblur.batch.segments import Segment, SegmentPlan
    from streamdeblur.batch.tasks import PartTask, PlanTask

    seen = []
    item = ItemReport(input=str(tmp_path / "in.mkv"), output=str(tmp_path / "out.mkv"), expected_frames=30)
    s = Schedule([item], segments=3, overwrite=False, on_item=lambda it: seen.append(it.error))
    s.begin(2)
    plan = s.next_task()
    assert isinstance(plan, PlanTask)
    s.start(plan, "w1")
    parts = tuple(Segment(k, 10 * k or None, 10 * k + 10 if k < 2 else None, 10, 10 * k) for k in range(3))
    s.finish(plan, Result("planned", frames=30, plan=SegmentPlan(item.input, 30, 3, parts), resumable=True))
    p1, p2, p3 = s.next_task(), s.next_task(), s.next_task()
    assert all(isinstance(p, PartTask) for p in (p1, p2, p3))
    s.start(p1, "w1")
    s.finish(p1, Result("done", frames=10))
    s.start(p2, "w1")
    s.start(p3, "w2")
    s.finish(p2, Result("cancelled", error="stopped after 4 frames"))
    assert seen == []  # p3 still runs
    s.finish(p3, Result("cancelled", error="stopped after 2 frames"))
    assert len(seen) == 1 and seen[0].endswith("1 of 3 parts are kept in " + str(tmp_path / ".out.mkv.segments")
                                                + ": the same command again goes on from them"), seen  # fmt: skip

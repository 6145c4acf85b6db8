"""The selection rule, as code: does a candidate generator ship in place of the shipped one?

Fixed before scoring (``docs/training-log.md``, in this form since stage 20) and applied to
**one** eval run's robustness panel (``streamdeblur-train eval --goals ... --json``), in which
both generators were scored side by side. The candidate ships if

* its worst margin over the goals (each row's gain minus that row's goal) is higher than the
  shipped generator's by ``margin_step`` dB or more, or higher by less and its plain worst row
  (the lowest gain) is not lower;
* no row is more than ``max_drop`` dB below the shipped generator's;
* sharp frames pass through it at ``min_pass_through`` dB or more, with a colour shift under
  ``max_colour`` levels.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamdeblur.errors import DataError, InputNotFoundError


@dataclass(frozen=True)
class Rule:
    margin_step: float = 0.05
    max_drop: float = 0.5
    min_pass_through: float = 35.0
    max_colour: float = 1.0


@dataclass(frozen=True)
class Decision:
    ships: bool
    reasons: list[str]  # why, one line each (the first: what decided it)
    rows: list[tuple[str, float, float]] = field(default_factory=list)  # condition, shipped gain, candidate gain
    shipped: str = ""
    candidate: str = ""


def read_panel(path: str | os.PathLike) -> dict[str, Any]:
    """The robustness panel of an eval JSON (``streamdeblur-train eval --json``), with its goals."""
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"eval JSON not found: {p}", "pass what `streamdeblur-train eval --json` wrote")
    try:
        panel = json.loads(p.read_text())["panel"]
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{p} has no robustness panel", "score with `streamdeblur-train eval` (with --panel)") from None
    if "goals" not in panel:
        raise DataError(f"{p}'s panel was scored without goals", "score it with `eval --goals GOALS.json`")
    return panel


def _method(panel: dict[str, Any], name: str) -> str:
    """The panel's column for ``name``: the same label, the same file name, or that name without its suffix."""
    found = [m for m in panel["methods"] if name in (m, Path(m).stem) or Path(m).name == Path(name).name]
    if not found:
        raise DataError(f"no generator {name!r} in this panel", f"choose one of: {', '.join(panel['methods'])}")
    return found[0]


def decide(panel: dict[str, Any], shipped: str, candidate: str, rule: Rule = Rule()) -> Decision:
    """Apply ``rule`` to ``candidate`` against ``shipped``, both columns of one eval run's ``panel``."""
    old, new = _method(panel, shipped), _method(panel, candidate)
    rows = [(r["condition"], r["models"][old]["gain"], r["models"][new]["gain"]) for r in panel["rows"]]
    goals = panel["goals"]["models"]
    m_old, m_new = goals[old]["worst_margin"], goals[new]["worst_margin"]
    s_old, s_new = panel["summary"][old], panel["summary"][new]
    rise = m_new - m_old
    reasons = []
    if rise >= rule.margin_step:
        margin_ok = True
        reasons.append(f"worst margin {m_new:+.3f} dB, {rise:+.3f} over the shipped {m_old:+.3f}: enough on its own")
    else:
        worst_change = s_new["worst_gain"] - s_old["worst_gain"]
        margin_ok = rise > 0 and worst_change >= 0
        reasons.append(
            f"worst margin {m_new:+.3f} dB, {rise:+.3f} over the shipped {m_old:+.3f} (under {rule.margin_step}), "
            f"so the worst row decides: {s_new['worst_gain']:+.3f} against {s_old['worst_gain']:+.3f} "
            f"({worst_change:+.3f}, {'not lower' if worst_change >= 0 else 'lower'})"
            + ("" if rise > 0 else "; the margin is not higher")
        )
    condition, a, b = min(rows, key=lambda r: r[2] - r[1])
    drop_ok = b - a >= -rule.max_drop
    reasons.append(f"largest fall of a row {b - a:+.3f} dB ({condition}; {rule.max_drop} allowed)")
    colour = max(abs(c) for c in s_new["color_shift"])
    pass_ok = s_new["pass_through_psnr"] >= rule.min_pass_through and colour < rule.max_colour
    reasons.append(
        f"sharp frames through it {s_new['pass_through_psnr']:.1f} dB (worst {s_new['pass_through_worst']:.1f}), "
        f"colour shift up to {colour:.2f} of a level"
    )
    return Decision(margin_ok and drop_ok and pass_ok, reasons, rows, old, new)


def format_decision(d: Decision) -> str:
    width = max(len(c) for c, _, _ in d.rows) + 2
    lines = [f"{'condition':<{width}}{d.shipped:>24}{d.candidate:>24}{'difference':>12}"]
    lines += [f"{c:<{width}}{a:>+24.3f}{b:>+24.3f}{b - a:>+12.3f}" for c, a, b in d.rows]
    lines += d.reasons
    lines.append(f"{d.candidate}: {'SHIPS' if d.ships else 'does not ship'} in place of {d.shipped}")
    return "\n".join(lines)

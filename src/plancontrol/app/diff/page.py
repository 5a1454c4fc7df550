"""A Diff as one self-contained HTML page (jinja2, autoescaped, inline CSS, nothing fetched)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from plancontrol.app.diff.render import step_name, verdict_line, what_differs
from plancontrol.core.report import dollars

if TYPE_CHECKING:
    from plancontrol.app.diff.compare import Diff, StepDiff
    from plancontrol.app.diff.record import RunRecord, StepRecord

__all__ = ["Detail", "details", "diff_page"]


class Detail(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that differs in a step, each run's text side by side."""

    step: int
    what: str
    a: str
    b: str


def _request(step: StepRecord | None, key: str) -> str:
    if step is None:
        return "(no such step)"
    found = [r.body for r in step.requests if f"{r.role} {r.attempt}" == key]
    return found[0] if found else "(no such request)"


def _code(step: StepRecord | None) -> str:
    if step is None:
        return ""
    return "\n".join(f"# attempt {a.attempt}\n{a.code}" for a in step.attempts)


def _outputs(step: StepRecord | None) -> str:
    if step is None:
        return ""
    return "\n".join(
        f"attempt {a.attempt}: exit code {a.exit_code}\n{a.stdout}{a.stderr}{a.failure}"
        for a in step.attempts
    )


def _step_details(s: StepDiff, a: StepRecord | None, b: StepRecord | None) -> list[Detail]:
    found = [
        Detail(step=s.step, what=f"request {key}", a=_request(a, key), b=_request(b, key))
        for key in s.requests
    ]
    if "code" in s.changed:
        found.append(Detail(step=s.step, what="code", a=_code(a), b=_code(b)))
    if "outputs" in s.changed:
        found.append(Detail(step=s.step, what="outputs", a=_outputs(a), b=_outputs(b)))
    if "summary" in s.changed:
        found.append(
            Detail(step=s.step, what="summary", a=a.summary if a else "", b=b.summary if b else "")
        )
    return found


def details(diff: Diff, a: RunRecord, b: RunRecord) -> tuple[Detail, ...]:
    """Each differing request, code, output and summary, with both runs' text."""
    by_a = {s.step: s for s in a.steps}
    by_b = {s.step: s for s in b.steps}
    return tuple(
        d
        for s in diff.steps
        if s.changed
        for d in _step_details(s, by_a.get(s.step), by_b.get(s.step))
    )


def diff_page(diff: Diff, a: RunRecord, b: RunRecord) -> str:
    """The HTML page: verdict, plan changes, a row per step (what differs, cost, time), then
    each difference with both sides' text. Every value is escaped."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("plancontrol.app.diff", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("diff.html.j2")
    return template.render(
        diff=diff,
        verdict=verdict_line(diff),
        details=details(diff, a, b),
        name=step_name,
        dollars=dollars,
        what=what_differs,
    )

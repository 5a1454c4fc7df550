"""A Diff for people (rich tables on a terminal) and for scripts (one JSON document)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from plancontrol.app.diff.compare import Diff, StepDiff
from plancontrol.core.report import dollars

__all__ = ["diff_document", "diff_tables", "step_name", "verdict_line", "what_differs"]


def step_name(step: int) -> str:
    """``planning`` for step 0, else ``step N``.

    >>> step_name(0), step_name(2)
    ('planning', 'step 2')
    """
    return "planning" if step == 0 else f"step {step}"


def verdict_line(diff: Diff) -> str:
    """One line: the runs match, or where they first differ and which steps do.

    >>> from plancontrol.app.diff.compare import Diff
    >>> verdict_line(Diff(run_a="a", run_b="b", task_a="t", task_b="t", plan=(), steps=()))
    'the runs match'
    """
    if diff.same:
        return "the runs match"
    parts = []
    if diff.task_a != diff.task_b:
        parts.append("the task")
    if diff.plan:
        parts.append("the plan")
    parts += [step_name(n) for n in diff.changed_steps]
    first = diff.changed_steps[0] if diff.changed_steps else None
    where = f"; first changed step: {step_name(first)}" if first is not None else ""
    return f"the runs differ in {', '.join(parts)}{where}"


def what_differs(step: StepDiff) -> str:
    """What differs in ``step``, with the requests and files named; ``same`` if nothing."""
    if not step.changed:
        return "same"
    said = list(step.changed)
    if step.requests:
        said[said.index("requests")] = f"requests ({', '.join(step.requests)})"
    if step.files:
        said[said.index("files")] = f"files ({', '.join(step.files)})"
    return "; ".join(said)


def _steps_table(diff: Diff) -> Table:
    table = Table(title="Steps", title_justify="left")
    for column in ("step", "agent", "status A", "status B", "differs"):
        table.add_column(column)
    for s in diff.steps:
        agent = s.agent_a if s.agent_a == s.agent_b else f"{s.agent_a} / {s.agent_b}"
        table.add_row(
            *(Text(c) for c in (step_name(s.step), agent, s.status_a, s.status_b)),
            Text(what_differs(s), style="yellow" if s.changed else "green"),
        )
    return table


def _cost_table(diff: Diff) -> Table:
    table = Table(title="Cost and time", title_justify="left")
    for column in ("step", "tokens A", "tokens B", "cost A", "cost B", "seconds A", "seconds B"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for s in diff.steps:
        table.add_row(
            step_name(s.step),
            f"{s.tokens_a:,}",
            f"{s.tokens_b:,}",
            dollars(s.cost_a),
            dollars(s.cost_b),
            f"{s.seconds_a:.2f}",
            f"{s.seconds_b:.2f}",
        )
    return table


def _plan_table(diff: Diff) -> Table:
    table = Table(title="Plan changes", title_justify="left")
    for column in ("step", "field", "A", "B"):
        table.add_column(column)
    for c in diff.plan:
        table.add_row(*(Text(v) for v in (str(c.step), c.field, c.a, c.b)))
    return table


def diff_tables(diff: Diff) -> Group:
    """The runs named, the plan's changes (if any), each step, then cost and time."""
    head = [Text(f"A: {diff.run_a}"), Text(f"B: {diff.run_b}")]
    if diff.task_a != diff.task_b:
        head += [Text(f"task A: {diff.task_a}"), Text(f"task B: {diff.task_b}")]
    plan = [_plan_table(diff)] if diff.plan else [Text("plan: same")]
    return Group(*head, *plan, _steps_table(diff), _cost_table(diff), Text(verdict_line(diff)))


def diff_document(diff: Diff) -> dict[str, Any]:
    """What ``diff --json`` prints: ``same``, the first changed step, the changed steps, the
    plan changes and every step (``changed`` lists what differs in it)."""
    import msgspec

    changed = diff.changed_steps
    return {
        "type": "diff",
        "same": diff.same,
        "first_changed_step": changed[0] if changed else None,
        "changed_steps": list(changed),
        **msgspec.to_builtins(diff),
    }

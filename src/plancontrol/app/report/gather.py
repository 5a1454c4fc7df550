"""A run folder read into what its HTML report shows (``RunView``); reads the folder only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from returns.result import Result

from plancontrol.app.report.records import (
    AttemptView,
    Image,
    Recorded,
    attempts_of,
    image,
    recorded,
    verdicts,
)
from plancontrol.core.carryover import carried_summary
from plancontrol.core.context import Context, StepOutcome
from plancontrol.core.ledger import Report, summarize
from plancontrol.core.problem import Problem
from plancontrol.runs.state import RunState

__all__ = ["RunView", "SessionView", "StepView", "gather", "view_of"]


@dataclass(frozen=True)
class SessionView:
    """One session of the run: its number, command, how it ended and where it started."""

    number: int
    command: str
    status: str
    starts_after: str
    message: str


@dataclass
class StepView:
    """One plan step with all the report shows of it."""

    number: int
    sub_task: str
    agent: str
    bullet_points: tuple[str, ...]
    outcome: StepOutcome | None
    carried: str
    attempts: list[AttemptView] = field(default_factory=list)
    note: str = ""
    """Why some of what the step did could not be read back, or empty."""
    decisions: list[str] = field(default_factory=list)
    reports: list[tuple[str, str]] = field(default_factory=list)
    """The researcher's Markdown reports: (file name, text)."""
    images: list[Image] = field(default_factory=list)


@dataclass
class RunView:
    """The whole run as the report shows it."""

    folder: str
    task: str
    status: str
    forked_from: str
    fork_step: int
    models: list[tuple[str, str]]
    sessions: list[SessionView]
    context: Context
    summary: Report
    plan_decisions: list[str]
    steps: list[StepView]


def _models(ctx: Context) -> list[tuple[str, str]]:
    """Each role and the models it was asked through, as recorded in the usage rows; a role
    given a model of its own that was never asked, and the default model, as set."""
    used: dict[str, list[str]] = {}
    for row in ctx.usage:
        models = used.setdefault(row.role, [])
        if row.model not in models:
            models.append(row.model)
    shown = [(role, ", ".join(models)) for role, models in used.items()]
    shown += [(rm.role, rm.model) for rm in ctx.settings.role_models if rm.role not in used]
    return [*shown, ("default", ctx.settings.default_model or "(none set)")]


def _reports(folder: Path, step: int) -> list[tuple[str, str]]:
    found = sorted((folder / "reports").glob(f"step_{step}_*.md"))
    return [(p.name, p.read_text(encoding="utf-8", errors="replace")) for p in found]


def _images(folder: Path, names: list[str]) -> list[Image]:
    shown = (image(folder, name) for name in dict.fromkeys(names))
    return [i for i in shown if i is not None]


def _step(folder: Path, ctx: Context, number: int, seen: Recorded, exact: bool) -> StepView:
    assert ctx.plan is not None
    planned = ctx.plan.step(number)
    outcome = ctx.outcome(number)
    settings = ctx.settings
    before = (o for o in ctx.outcomes if o.step < number)
    view = StepView(
        number=number,
        sub_task=planned.sub_task,
        agent=planned.agent,
        bullet_points=tuple(planned.bullet_points),
        outcome=outcome,
        carried=carried_summary(before, settings.summary_budget, settings.summary_verbatim_steps),
        attempts=attempts_of(folder, seen.runs.get(number, [])),
        decisions=seen.decisions.get(number, []),
        reports=_reports(folder, number),
    )
    if view.attempts and exact:
        view.note = verdicts(folder, number, view.attempts)
    produced = [*seen.files.get(number, []), *(outcome.files if outcome else ())]
    view.images = _images(folder, produced)
    return view


def view_of(folder: Path, state: RunState, *, verdicts: bool = True) -> RunView:
    """What the report shows of the run in ``folder`` as ``state`` has it; ``verdicts``
    replays each code step offline to read its judge's verdicts (off: faster, none shown)."""
    ctx = state.context
    seen = recorded(folder, state.sessions)
    from plancontrol.runs.folder import shown_statuses

    statuses = shown_statuses(state.sessions)
    sessions = [
        SessionView(s.number, s.command, status, s.starts_after or "", s.message)
        for s, status in zip(state.sessions, statuses, strict=True)
    ]
    n_steps = ctx.plan.n_steps if ctx.plan else 0
    return RunView(
        folder=str(folder),
        task=state.manifest.task,
        status=state.status,
        forked_from=state.manifest.forked_from or "",
        fork_step=state.manifest.fork_step,
        models=_models(ctx),
        sessions=sessions,
        context=ctx,
        summary=summarize(ctx),
        plan_decisions=seen.decisions.get(0, []),
        steps=[_step(folder, ctx, n, seen, verdicts) for n in range(1, n_steps + 1)],
    )


def gather(
    folder: Path, *, verdicts: bool = True, writer: bool = False
) -> Result[RunView, Problem]:
    """The run in ``folder`` read for its report; a one-line Problem when it is not a run.
    ``writer``: the caller holds the run's lock, so its records say how it stands."""
    from plancontrol.runs.state import recorded_state, run_state

    state = recorded_state(folder) if writer else run_state(folder)
    return state.map(lambda s: view_of(folder, s, verdicts=verdicts))

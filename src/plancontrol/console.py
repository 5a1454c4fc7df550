"""What a person sees in the terminal: live progress on stderr, closing tables with rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from plancontrol.carryover import clip
from plancontrol.context import Context
from plancontrol.events import (
    CodeExecuted,
    CostUpdate,
    Event,
    PhaseChange,
    PlanningComplete,
    StepComplete,
    StepFailed,
    StepStart,
    WorkflowFailed,
)
from plancontrol.ledger import Report, Totals
from plancontrol.plan import Step
from plancontrol.report import dollars

__all__ = ["ConsoleEvents", "plan_table", "progress_table", "report_tables"]


def plan_table(steps: tuple[Step, ...]) -> Table:
    """The plan: one row per step with its agent and instructions."""
    table = Table(title="Plan", title_justify="left")
    table.add_column("step", justify="right")
    table.add_column("agent")
    table.add_column("sub-task")
    table.add_column("instructions")
    for number, step in enumerate(steps, start=1):
        table.add_row(str(number), step.agent, step.sub_task, "\n".join(step.bullet_points))
    return table


class ConsoleEvents:
    """Prints the run as it goes: each phase, the plan, each step (i of N, its agent, each
    attempt), and the tokens and dollars spent so far."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tokens = 0
        self.cost: float | None = 0.0

    def _spent(self) -> str:
        return f"{self.tokens:,} tokens, {dollars(self.cost)} so far"

    def emit(self, event: Event) -> None:
        match event:
            case PhaseChange(phase=phase):
                self.console.print(f"[dim]phase[/] [bold]{phase}[/]")
            case CostUpdate(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost):
                self.tokens += prompt + completion
                self.cost = None if self.cost is None or cost is None else self.cost + cost
            case PlanningComplete(steps=steps, seconds=seconds):
                self.console.print(plan_table(steps))
                self.console.print(f"planned in {seconds:.2f} s ({self._spent()})")
            case StepStart(step=step, n_steps=n, agent=agent, goal=goal):
                self.console.print(f"[bold]step {step}/{n}[/] {agent}: {goal}")
            case CodeExecuted(attempt=attempt, exit_code=code, timed_out=timed_out):
                status = "timed out" if timed_out else f"exit code {code}"
                self.console.print(f"  attempt {attempt}: script ran, {status}")
            case StepComplete(step=step, status=status, started=started, ended=ended):
                colour = "green" if status == "completed" else "yellow"
                self.console.print(
                    f"  [{colour}]step {step} {status}[/] in {ended - started:.2f} s "
                    f"({self._spent()})"
                )
            case StepFailed(step=step, error=error):
                self.console.print(f"  [red]step {step} failed[/]: {error} ({self._spent()})")
            case WorkflowFailed(phase=phase, error=error):
                self.console.print(f"[red]stopped in {phase}[/]: {error}")
            case _:
                pass


def _usage_table(title: str, groups: tuple[Totals, ...], total: Totals) -> Table:
    table = Table(title=f"Cost by {title}", title_justify="left")
    for column in (title, "calls", "prompt tokens", "completion tokens", "cost"):
        table.add_column(column, justify="left" if column == title else "right")
    for g in (*groups, total):
        table.add_row(
            g.key,
            str(g.calls),
            str(g.prompt_tokens),
            str(g.completion_tokens),
            dollars(g.cost_usd),
            style="bold" if g is total else None,
        )
    return table


def _gist(text: str, limit: int = 160) -> str:
    """The first paragraph of ``text``, cut to ``limit`` characters."""
    return clip(text.strip().split("\n\n")[0].strip(), limit)


def progress_table(ctx: Context) -> Table:
    """The plan, each step with its agent, status, attempts and summary so far."""
    table = Table(title="Plan and progress", title_justify="left")
    for column in ("step", "agent", "sub-task", "status", "attempts", "summary"):
        table.add_column(column)
    steps = ctx.plan.steps if ctx.plan is not None else ()
    for number, step in enumerate(steps, start=1):
        outcome = ctx.outcome(number)
        table.add_row(
            str(number),
            step.agent,
            step.sub_task,
            outcome.status if outcome else "not run",
            str(outcome.attempts) if outcome else "",
            _gist(outcome.summary or outcome.error) if outcome else "",
        )
    return table


def report_tables(report: Report) -> list[Table]:
    """Closing tables: step outcomes, cost per role, cost per step, timing."""
    steps = Table(title="Steps", title_justify="left")
    for column in ("step", "agent", "status", "code", "attempts", "files"):
        steps.add_column(column)
    for o in report.outcomes:
        steps.add_row(
            str(o.step), o.agent, o.status, o.code_status, str(o.attempts), "\n".join(o.files)
        )
    timing = Table(title="Timing", title_justify="left")
    for column in ("phase", "step", "seconds"):
        timing.add_column(column)
    for t in report.timings:
        timing.add_row(t.phase, str(t.step) if t.step else "", f"{t.seconds:.2f}")
    return [
        steps,
        _usage_table("role", report.by_role, report.total),
        _usage_table("step", report.by_step, report.total),
        timing,
    ]

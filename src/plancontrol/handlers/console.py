"""What a person sees in the terminal: live progress, closing tables; user text as written."""

# Text from a person or a model (a task, a step, a reply, an error) reaches rich as
# ``rich.text.Text``, never as markup: ``[bold]`` or ``[/]`` in a task stays as written.

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from plancontrol.core.answers import verdict_of
from plancontrol.core.carryover import clip
from plancontrol.core.context import Context
from plancontrol.core.events import (
    AgentReplied,
    CodeExecuted,
    Event,
    PhaseChange,
    PlanningComplete,
    StepComplete,
    StepFailed,
    StepStart,
    WorkflowComplete,
    WorkflowFailed,
)
from plancontrol.core.ledger import Report, Totals
from plancontrol.core.plan import Step
from plancontrol.core.report import dollars
from plancontrol.handlers.progress import LiveStatus, StatusLine

__all__ = [
    "ConsoleEvents",
    "closing_lines",
    "labelled",
    "plan_table",
    "print_report",
    "progress_table",
    "report_tables",
    "say_on",
    "stopped_line",
]


def _cells(*texts: str) -> list[Text]:
    """Table cells shown exactly as written."""
    return [Text(text) for text in texts]


def say_on(console: Console) -> Callable[[str], None]:
    """A ``say`` for the API's one-line notices: each printed literally on ``console``."""

    def say(line: str) -> None:
        console.print(Text(line))

    return say


def stopped_line(message: str) -> Text:
    """The outcome of a run that stopped: said once, at the end.

    >>> stopped_line("step 1 failed: [/] is not markup").plain
    'workflow stopped: step 1 failed: [/] is not markup'
    """
    return Text.assemble(("workflow stopped", "red"), ": ", message)


def labelled(label: str, value: str) -> Text:
    """``label: value`` with the label in bold and the value as written.

    >>> labelled("task", "Compare [TT] and [/]").plain
    'task: Compare [TT] and [/]'
    """
    return Text.assemble((label, "bold"), ": ", value)


def closing_lines(console: Console, *commands: tuple[str, str]) -> None:
    """Print ``label: command`` lines, each command whole on its own line (a long path is
    never broken, so it can be copied), e.g. ``replay it with: plancontrol replay RUN``."""
    for label, command in commands:
        console.print(Text(f"{label}: {command}"), soft_wrap=True)


def plan_table(steps: tuple[Step, ...]) -> Table:
    """The plan: one row per step with its agent and instructions."""
    table = Table(title="Plan", title_justify="left")
    table.add_column("step", justify="right")
    table.add_column("agent")
    table.add_column("sub-task")
    table.add_column("instructions")
    for number, step in enumerate(steps, start=1):
        table.add_row(
            *_cells(str(number), step.agent, step.sub_task, "\n".join(step.bullet_points))
        )
    return table


class ConsoleEvents:
    """Prints the run as it goes: each phase, the plan, each step (i of N, its agent, each
    attempt), and the tokens and dollars spent so far. A failure is not repeated here: the
    caller says it once, at the end (``stopped_line``). With ``live`` (for a terminal), a
    status line under those lines is redrawn in place until the workflow ends or ``close``."""

    def __init__(self, console: Console, *, live: bool = False) -> None:
        self.console = console
        self.status = StatusLine()
        self.live = LiveStatus(console, self.status) if live else None
        self.judged: AgentReplied | None = None  # the judge's last reply, said on a retry

    def _spent(self) -> str:
        return f"{self.status.tokens:,} tokens, {dollars(self.status.cost)} so far"

    def close(self) -> None:
        """Take the status line away (the lines printed stay)."""
        if self.live is not None:
            self.live.stop()

    def emit(self, event: Event) -> None:
        self.status.tell(event)
        if isinstance(event, WorkflowComplete | WorkflowFailed):
            self.close()
        elif self.live is not None:
            self.live.start()
        self._print(event)

    def _print(self, event: Event) -> None:
        match event:
            case PhaseChange(phase=phase):
                self.console.print(Text.assemble(("phase", "dim"), " ", (phase, "bold")))
            case PlanningComplete(steps=steps, seconds=seconds):
                self.console.print(plan_table(steps))
                self.console.print(Text(f"planned in {seconds:.2f} s ({self._spent()})"))
            case StepStart(step=step, n_steps=n, agent=agent, goal=goal):
                self.console.print(Text.assemble((f"step {step}/{n}", "bold"), f" {agent}: {goal}"))
            case AgentReplied(role="judge"):
                self.judged = event
            case AgentReplied(step=step, attempt=attempt) if self.judged and (
                (self.judged.step, self.judged.attempt + 1) == (step, attempt)
            ):
                self._retrying(self.judged)
            case CodeExecuted(attempt=attempt, exit_code=code, timed_out=timed_out):
                status = "timed out" if timed_out else f"exit code {code}"
                self.console.print(Text(f"  attempt {attempt}: script ran, {status}"))
            case StepComplete(step=step, status=status, started=started, ended=ended):
                colour = "green" if status == "completed" else "yellow"
                self.console.print(
                    Text.assemble(
                        "  ",
                        (f"step {step} {status}", colour),
                        f" in {ended - started:.2f} s ({self._spent()})",
                    )
                )
            case StepFailed(step=step, started=started, ended=ended):
                self.console.print(
                    Text.assemble(
                        "  ",
                        (f"step {step} failed", "red"),
                        f" in {ended - started:.2f} s ({self._spent()})",
                    )
                )
            case _:
                pass

    def _retrying(self, judged: AgentReplied) -> None:
        """Say why attempt N is followed by another: the judge's decision and reason."""
        self.judged = None
        verdict = verdict_of(judged.text)
        if verdict is not None:
            said = f"{verdict.decision}: {verdict.reason}"
            self.console.print(Text(f"  judge on attempt {judged.attempt}: {said}; trying again"))


def _usage_table(title: str, groups: tuple[Totals, ...], total: Totals) -> Table:
    table = Table(title=f"Cost by {title}", title_justify="left")
    for column in (title, "calls", "prompt tokens", "completion tokens", "cost"):
        table.add_column(column, justify="left" if column == title else "right")
    for g in (*groups, total):
        table.add_row(
            *_cells(
                g.key,
                str(g.calls),
                str(g.prompt_tokens),
                str(g.completion_tokens),
                dollars(g.cost_usd),
            ),
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
            *_cells(
                str(number),
                step.agent,
                step.sub_task,
                outcome.status if outcome else "not run",
                str(outcome.attempts) if outcome else "",
                _gist(outcome.summary or outcome.error) if outcome else "",
            )
        )
    return table


def report_tables(report: Report) -> list[Table]:
    """Closing tables: step outcomes, cost per role, cost per step, timing (the files each
    step wrote are listed by ``print_report``, whole, under the tables)."""
    steps = Table(title="Steps", title_justify="left")
    for column in ("step", "agent", "status", "code", "attempts", "files"):
        steps.add_column(column, justify="right" if column == "files" else "left")
    for o in report.outcomes:
        steps.add_row(
            *_cells(
                str(o.step), o.agent, o.status, o.code_status, str(o.attempts), str(len(o.files))
            )
        )
    timing = Table(title="Timing", title_justify="left")
    for column in ("phase", "step", "seconds"):
        timing.add_column(column)
    for t in report.timings:
        timing.add_row(*_cells(t.phase, str(t.step) if t.step else "", f"{t.seconds:.2f}"))
    return [
        steps,
        _usage_table("role", report.by_role, report.total),
        _usage_table("step", report.by_step, report.total),
        timing,
    ]


def print_report(console: Console, report: Report) -> None:
    """The closing tables, then each file a step wrote, on a line of its own and never cut
    or broken (``step 2: reports/step_2_researcher_output.md``)."""
    tables = report_tables(report)
    console.print(tables[0])
    written = [(o.step, name) for o in report.outcomes for name in o.files]
    if written:
        console.print(Text("Files written", style="italic"))
        for step, name in written:
            console.print(Text(f"  step {step}: {name}"), soft_wrap=True)
    for table in tables[1:]:
        console.print(table)

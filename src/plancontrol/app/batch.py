"""Many tasks, each its own run in DIR/<id> by its own ``plancontrol`` process; DIR/batch.json."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.app.batch_tasks import BatchTask, read_tasks
from plancontrol.core.problem import Problem
from plancontrol.handlers.files import write_atomic

__all__ = ["BatchRow", "BatchSummary", "ModelOptions", "batch"]

Status = Literal["finished", "failed", "stopped", "running", "error"]
Action = Literal["run", "resume", "skip"]
Engine = Literal["local", "ray"]


class ModelOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How every run of the batch reaches its models (None: the run's own default)."""

    model: str | None = None
    base_url: str | None = None
    role_models: tuple[str, ...] = ()
    structured: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    reasoning_effort: str | None = None
    max_tokens: int | None = None

    def flags(self) -> list[str]:
        """These options as the flags ``run`` and ``resume`` both take.

        >>> ModelOptions(model="m", role_models=("judge=j",), timeout=5.0).flags()
        ['--model', 'm', '--timeout', '5.0', '--role-model', 'judge=j']
        """
        named = {
            "--model": self.model,
            "--base-url": self.base_url,
            "--structured": self.structured,
            "--timeout": self.timeout,
            "--max-retries": self.max_retries,
            "--reasoning-effort": self.reasoning_effort,
            "--max-tokens": self.max_tokens,
        }
        given = [[flag, str(value)] for flag, value in named.items() if value is not None]
        roles = [["--role-model", role] for role in self.role_models]
        return [item for pair in (*given, *roles) for item in pair]


class BatchRow(msgspec.Struct, frozen=True, kw_only=True):
    """What one task came to: its run's status, what this batch did to it, its figures."""

    id: str
    task: str
    run_dir: str
    action: Action
    status: Status
    steps_done: int = 0
    steps_planned: int = 0
    cost_usd: float | None = 0.0
    seconds: float = 0.0
    exit_code: int | None = None
    message: str = ""


class BatchSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The batch's manifest (``batch.json``): every task's row and the totals."""

    format: int = 1
    tasks_file: str
    workers: int
    engine: Engine = "local"
    rows: tuple[BatchRow, ...]
    seconds: float

    def counts(self) -> dict[str, int]:
        """How many tasks stand in each status."""
        statuses = ("finished", "failed", "stopped", "running", "error")
        return {s: sum(row.status == s for row in self.rows) for s in statuses}

    def cost_usd(self) -> float | None:
        """The runs' summed cost; None when any run's is unknown."""
        from plancontrol.core.ledger import summed_cost

        return summed_cost(row.cost_usd for row in self.rows)

    @property
    def ok(self) -> bool:
        """Whether every task's run finished."""
        return all(row.status == "finished" for row in self.rows)


def batch(
    tasks_file: str | os.PathLike[str],
    into: str | os.PathLike[str],
    *,
    workers: int = 1,
    retry_failed: bool = False,
    options: ModelOptions | None = None,
    engine: str = "local",
    address: str | None = None,
    on_start: Callable[[str], None] | None = None,
    on_done: Callable[[BatchRow], None] | None = None,
) -> Result[BatchSummary, Problem]:
    """Run each task of ``tasks_file`` into ``into/<id>``, ``workers`` at a time:
    a task whose run finished is skipped, one that stopped is resumed, one that failed is
    skipped unless ``retry_failed`` (then resumed). A bad line refuses the whole batch
    before anything runs. The ``local`` engine runs each task by a process here; ``ray``
    as a Ray task on the instance at ``address`` (None: a local one, started for the batch).
    ``on_start`` hears of each task as its run starts, ``on_done`` as it ends;
    ``into/batch.json`` is rewritten each time."""
    refused = _refusal(workers, engine, address)
    if refused is not None:
        return Failure(refused)
    match read_tasks(Path(tasks_file)):
        case Failure(problem):
            return Failure(problem)
        case Success(tasks):
            pass
    folder = Path(into)
    if folder.exists() and not folder.is_dir():
        what, fix = f"`into` {folder} is not a folder", "name a folder (made if missing)"
        return Failure(Problem(what=what, where=str(folder), fix=fix))
    folder.mkdir(parents=True, exist_ok=True)
    job = _Job(folder, str(tasks_file), workers, options or ModelOptions(), retry_failed)
    job.engine = "ray" if engine == "ray" else "local"
    job.address, job.on_start = address, on_start
    return Success(job.run(tasks, on_done))


def _refusal(workers: int, engine: str, address: str | None) -> Problem | None:
    """Why options of a batch cannot go together, or None."""
    if workers < 1:
        what = f"`workers` must be at least 1, got {workers}"
        return Problem(what=what, where="workers", fix="give 1 or more")
    if engine not in ("local", "ray"):
        return Problem(what=f"no engine {engine!r}", where="engine", fix="choose local or ray")
    if address is not None and engine != "ray":
        what = "`address` names a Ray instance, for `engine=ray` only"
        return Problem(what=what, where="address", fix="add `engine=ray`, or leave it out")
    if engine == "ray":
        from plancontrol.app.batch_ray import missing_ray

        return missing_ray(address)
    return None


class _Job:
    """One invocation of a batch: its tasks run, their rows gathered, the manifest kept."""

    def __init__(
        self, into: Path, tasks_file: str, workers: int, options: ModelOptions, retry: bool
    ) -> None:
        self.into, self.tasks_file, self.workers = into, tasks_file, workers
        self.options, self.retry = options, retry
        self.rows: dict[str, BatchRow] = {}
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.children: list[subprocess.Popen[str]] = []
        self.stopping = False
        self.engine: Engine = "local"
        self.address: str | None = None
        self.on_start: Callable[[str], None] | None = None

    def run(
        self,
        tasks: Sequence[tuple[str, BatchTask]],
        on_done: Callable[[BatchRow], None] | None,
    ) -> BatchSummary:
        """Every task through the engine: Ray, or a pool of ``workers`` threads, each waiting
        on one process."""
        order = [name for name, _ in tasks]

        def record(row: BatchRow) -> None:
            with self.lock:
                self.rows[row.id] = row
                self.save(order)
            if on_done is not None:
                on_done(row)

        def one(named: tuple[str, BatchTask]) -> None:
            record(self.task(*named))

        if self.engine == "ray":
            from plancontrol.app.batch_ray import run_on_ray

            run_on_ray(self, tasks, record)
            return self.save(order)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            try:
                list(pool.map(one, tasks))
            except KeyboardInterrupt:  # the runs going now stop as interrupted, no new one
                with self.lock:
                    self.stopping = True
                pool.shutdown(wait=False, cancel_futures=True)
                _stop_now(self.children)
                raise
        return self.save(order)

    def task(self, name: str, task: BatchTask) -> BatchRow:
        """Run, resume or skip one task, as its folder stands; then its row."""
        folder = self.into / name
        status, _ = run_status(folder)
        action = action_of(status, self.retry)
        if action == "skip":
            return row_of(name, task, folder, action)
        with self.lock:
            if self.stopping:
                return row_of(name, task, folder, "skip")
            child = subprocess.Popen(
                argv_of(action, folder, task, self.options),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.children.append(child)
        if self.on_start is not None:
            self.on_start(name)
        _, stderr = child.communicate()
        return row_of(name, task, folder, action, child.returncode, said_last(stderr))

    def save(self, order: Sequence[str]) -> BatchSummary:
        """The summary so far, written atomically to ``batch.json``."""
        summary = BatchSummary(
            tasks_file=self.tasks_file,
            workers=self.workers,
            engine=self.engine,
            rows=tuple(self.rows[name] for name in order if name in self.rows),
            seconds=time.monotonic() - self.started,
        )
        write_atomic(
            self.into / "batch.json", msgspec.json.format(msgspec.json.encode(summary)) + b"\n"
        )
        return summary


def _stop_now(children: Sequence[subprocess.Popen[str]]) -> None:
    """Ctrl-C twice to each run still going, as at a terminal: the first asks it to stop
    after its step, the second stops it at once (its folder says interrupted, resumable)."""
    for _ in range(2):
        alive = [child for child in children if child.poll() is None]
        for child in alive:
            child.send_signal(signal.SIGINT)
        time.sleep(0.3)  # the handler runs once for signals that come faster


def action_of(status: Status | None, retry: bool) -> Action:
    """What to do with a task whose run stands at ``status`` (None: no run yet)."""
    if status is None:
        return "run"
    if status == "stopped" or (status == "failed" and retry):
        return "resume"
    return "skip"


def argv_of(action: Action, folder: Path, task: BatchTask, options: ModelOptions) -> list[str]:
    """The ``plancontrol`` process that runs (or resumes) ``task`` into ``folder``."""
    head = [sys.executable, "-m", "plancontrol", action, "--json", *options.flags()]
    if action == "resume":
        return [*head, "--", str(folder)]
    sets = [f"settings.{k}={msgspec.json.encode(v).decode()}" for k, v in task.settings.items()]
    sets += [f"{k}={msgspec.json.encode(v).decode()}" for k, v in task.variables.items()]
    extra = [item for value in sets for item in ("--set", value)]
    if task.plan is not None:
        extra += ["--plan", task.plan]
    if task.pipeline is not None:
        extra += ["--pipeline", task.pipeline]
    return [*head, "--run-dir", str(folder), *extra, "--", task.task]


def run_status(folder: Path) -> tuple[Status | None, Any]:
    """How the run in ``folder`` stands (None: there is no run there) and its state."""
    from plancontrol.runs.state import run_state

    if not (folder / "manifest.json").is_file():
        return None, None
    match run_state(folder):
        case Success(state):
            pass
        case Failure(problem):
            return "error", problem
    said: str = state.status
    if said == "finished":
        return "finished", state
    if said.startswith(("failed", "cancelled")):
        return "failed", state
    return ("running" if said.startswith("running") else "stopped"), state


def row_of(
    name: str,
    task: BatchTask,
    folder: Path,
    action: Action,
    exit_code: int | None = None,
    message: str = "",
) -> BatchRow:
    """The row of a task whose run (if any) is in ``folder``, read from the folder."""
    from plancontrol.core.ledger import summarize

    status, state = run_status(folder)
    row = BatchRow(
        id=name, task=task.task, run_dir=str(folder), action=action, status="error",
        exit_code=exit_code, message=message,
    )  # fmt: skip
    if status is None or status == "error":
        why = message or (state.message if state is not None else "no run was recorded")
        return msgspec.structs.replace(row, message=why)
    report = summarize(state.context)
    return msgspec.structs.replace(
        row,
        status=status,
        steps_done=sum(o.status == "completed" for o in report.outcomes),
        steps_planned=report.n_steps,
        cost_usd=report.total.cost_usd,
        seconds=report.seconds,
        message="" if status == "finished" else state.status,
    )


def said_last(stderr: str) -> str:
    """What a ``plancontrol`` process said last on ``stderr``: its last ``plancontrol:``
    line, else (a crash) its last non-empty line.

    >>> said_last("Traceback...\\nplancontrol: no such plan\\nbye\\n")
    'no such plan'
    """
    said = [line for line in stderr.splitlines() if line.startswith("plancontrol: ")]
    if said:
        return said[-1].removeprefix("plancontrol: ")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""

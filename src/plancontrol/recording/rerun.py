"""The scripts of a replay: run again and compared (``rerun_code``), or watched as served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.core.errors import ExecutionFailure
from plancontrol.core.ports import Execution, Executor, Script
from plancontrol.runs.folder import RunOptions
from plancontrol.runs.journal import JournalReplay
from plancontrol.runs.snapshots import first_difference

__all__ = ["Rerun", "ScriptWatch", "Watched", "scratch_executor"]


class Rerun:
    """Runs each recorded script again (``--rerun-code``) with ``executor`` and notes where
    its result differs from the journal's; the run is still served the journaled result, so
    the replay stays comparable. Installations are never run again."""

    def __init__(self, journal: JournalReplay, executor: Executor) -> None:
        self.journal = journal
        self.executor = executor
        self.runs = 0
        self.differences: list[str] = []

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        recorded = self.journal.run(script)
        again = self.executor.run(script)
        self.runs += 1
        where = first_difference(_as_data(recorded), _as_data(again))
        if where is not None:
            self.differences.append(f"step {script.step} attempt {script.attempt}: {where}")
        return recorded

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        return self.journal.install(step, packages)


def _as_data(result: Result[Execution, ExecutionFailure]) -> object:
    import msgspec

    match result:
        case Success(run):
            return msgspec.to_builtins(run)
        case Failure(error):
            return {"failure": error.detail}
    raise AssertionError("unreachable")  # pragma: no cover


ScriptWatch = Callable[[Script, Result[Execution, ExecutionFailure]], None]
"""Told of each script a replay runs, with the result the journal serves for it."""


class Watched:
    """Serves what ``inner`` serves, telling ``watch`` of each script and its result."""

    def __init__(self, inner: Executor, watch: ScriptWatch) -> None:
        self.inner = inner
        self.watch = watch

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        result = self.inner.run(script)
        self.watch(script, result)
        return result

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        return self.inner.install(step, packages)


def scratch_executor(folder: Path, timeout: float, options: RunOptions) -> Executor:
    """Runs a session's recorded scripts again as it ran them: its interpreter, its variables
    (a resume or fork may have changed them)."""
    import sys

    from plancontrol.handlers.executor import SubprocessExecutor

    python = options.python or sys.executable
    return SubprocessExecutor(folder, timeout=timeout, python=python, pass_env=options.pass_env)

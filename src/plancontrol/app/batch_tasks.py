"""A batch's task list: TASKS.jsonl read and checked line by line before anything runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.problem import Problem

__all__ = ["BatchTask", "read_tasks", "slug"]


class BatchTask(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of TASKS.jsonl: the task, and what its run differs in from the others."""

    task: str
    id: str | None = None
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    variables: dict[str, Any] = msgspec.field(default_factory=dict)
    plan: str | None = None
    pipeline: str | None = None


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_FIX = "fix that line of the task list and run the command again"


def slug(task: str, line: int) -> str:
    """The id of a task given none: its first words, lower case, then its line number.

    >>> slug("Compute the first 20 primes, and save them!", 3)
    'compute-the-first-20-primes-and-3'
    """
    words = re.findall(r"[a-z0-9]+", task.lower())[:6]
    return "-".join([*words, str(line)])


def read_tasks(path: Path) -> Result[tuple[tuple[str, BatchTask], ...], Problem]:
    """Each task of the file at ``path`` with its id (given, else ``slug``), plan files
    resolved beside the file; a line that is not a task, or an id used twice, refused with
    its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as problem:
        reason = getattr(problem, "strerror", None) or problem
        what = f"cannot read {path}: {reason}"
        fix = "pass the path of the task list (JSON lines, one task a line)"
        return Failure(Problem(what=what, where=str(path), fix=fix))
    tasks: list[tuple[str, BatchTask]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match _task(line, path, number):
            case Failure(problem):
                return Failure(problem)
            case Success((name, task)):
                if name in dict(tasks):
                    return Failure(_bad(path, number, f"the id {name!r} is used twice"))
                tasks.append((name, task))
    if not tasks:
        return Failure(Problem(what=f"{path} holds no task", where=str(path), fix=_LINE_FIX))
    return Success(tuple(tasks))


_LINE_FIX = 'write one JSON object a line, e.g. {"task": "...", "id": "first"}'


def _task(line: str, path: Path, number: int) -> Result[tuple[str, BatchTask], Problem]:
    """One line as a task with its id, or why it is not one."""
    from plancontrol.core.settings import load_settings

    try:
        task = msgspec.json.decode(line, type=BatchTask)
    except (msgspec.ValidationError, msgspec.DecodeError) as problem:
        return Failure(_bad(path, number, str(problem)))
    if not task.task.strip():
        return Failure(_bad(path, number, "the task is empty"))
    name = task.id if task.id is not None else slug(task.task, number)
    if not _ID.fullmatch(name):
        return Failure(_bad(path, number, f"the id {name!r} is not a folder name"))
    invalid = load_settings(task.settings)
    if isinstance(invalid, Failure):
        return Failure(_bad(path, number, invalid.failure().message))
    if task.plan is not None:
        plan = (path.parent / task.plan).resolve()
        if not plan.is_file():
            return Failure(_bad(path, number, f"the plan file {task.plan} is not there"))
        task = msgspec.structs.replace(task, plan=str(plan))
    if task.pipeline is not None and ":" not in task.pipeline:
        return Failure(_bad(path, number, f"the pipeline {task.pipeline!r} is not MODULE:NAME"))
    return Success((name, task))


def _bad(path: Path, number: int, what: str) -> Problem:
    """The problem of line ``number``: where, what, and how to fix it."""
    return Problem(what=f"{path} line {number}: {what}", where=f"{path}:{number}", fix=_FIX)

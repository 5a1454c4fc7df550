"""What scripts read under ``--json``: one JSON document per command on stdout, with a type."""

# Every document is an object whose ``"type"`` says what it holds: ``"run"`` (run, demo,
# resume, fork), ``"replay"``, ``"replays"``, ``"check"``, ``"secrets"``, ``"show"``, ``"config"``,
# ``"init"``, ``"version"``, ``"diff"``, or ``"error"`` (``{"kind": ..., "message": ...}``). Dollar
# amounts are rounded to 10 decimal places and other numbers with a fraction (seconds) to 6,
# so that no float noise (``2.0549999999999998e-05``) reaches a script (docs/cli.md).

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from plancontrol.recording.replay import ReplayOutcome
    from plancontrol.runs.state import RunState

__all__ = [
    "JSON_FLAG",
    "check_document",
    "emit",
    "error_document",
    "json_mode",
    "kind_of",
    "replay_document",
    "run_document",
    "run_with_json_errors",
    "show_document",
    "tidy",
    "wants_json",
]

JSON_FLAG = "--json"

_WANTED: ContextVar[bool] = ContextVar("json_wanted", default=False)

Document = dict[str, Any]


def _rounded(key: str, value: float) -> float:
    return round(value, 10 if "cost" in key else 6)


def tidy(value: Any, key: str = "") -> Any:
    """``value`` as JSON-ready builtins, every float rounded: dollars (keys naming a cost)
    to 10 decimal places, other numbers to 6.

    >>> tidy({"cost_usd": (1.8599999999999998e-05,), "seconds": 0.1 + 0.2, "n": 3})
    {'cost_usd': [1.86e-05], 'seconds': 0.3, 'n': 3}
    """
    return _walk(msgspec.to_builtins(value), key)


def _walk(plain: Any, key: str) -> Any:
    if isinstance(plain, dict):
        return {k: _walk(v, k) for k, v in plain.items()}
    if isinstance(plain, list | tuple):
        return [_walk(v, key) for v in plain]
    if isinstance(plain, float):
        return _rounded(key, plain)
    return plain


def error_document(kind: str, message: str) -> Document:
    """The document of a command that could not do its job.

    >>> error_document("input", "no such folder")
    {'type': 'error', 'error': {'kind': 'input', 'message': 'no such folder'}}
    """
    return {"type": "error", "error": {"kind": kind, "message": message}}


def kind_of(error: object) -> str:
    """An error's kind for scripts: its class name in snake case.

    >>> class AttemptsExhausted: ...
    >>> kind_of(AttemptsExhausted())
    'attempts_exhausted'
    """
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def emit(document: Document) -> None:
    """Write ``document`` to stdout as one line of JSON."""
    sys.stdout.write(msgspec.json.encode(tidy(document)).decode() + "\n")
    sys.stdout.flush()


def json_mode(wanted: bool) -> bool:
    """The ``--json`` option's callback: notes, before the other options are read, whether
    the command answers in JSON (so that its errors do too)."""
    _WANTED.set(wanted)
    return wanted


def wants_json() -> bool:
    """Whether the command running now was given ``--json``."""
    return _WANTED.get()


def run_with_json_errors(main: Callable[..., Any], args: Sequence[str]) -> int:
    """Run the click command ``main`` on ``args`` (which hold ``--json``), turning a usage
    error (an unknown option, a missing argument) into an error document on stdout as well
    as the usual message on stderr; the exit status it would have had."""
    import typer

    try:
        status = main(args=list(args), prog_name="plancontrol", standalone_mode=False)
    except typer.TyperException as problem:  # click's UsageError and its kin
        show = getattr(problem, "show", None)
        if callable(show):
            show()
        emit(error_document("usage", problem.format_message()))
        return problem.exit_code
    except typer.Abort:
        sys.stderr.write("Aborted!\n")
        emit(error_document("interrupted", "aborted"))
        return 1
    return status if isinstance(status, int) else 0


def run_document(folder: str, report: object, stopped: tuple[str, str] | None) -> Document:
    """What ``run``, ``demo``, ``resume`` and ``fork`` print: the outcome (``completed`` or
    ``stopped`` with the error's kind and message), the run folder and the report."""
    return {
        "type": "run",
        "status": "completed" if stopped is None else "stopped",
        "error": None if stopped is None else {"kind": stopped[0], "message": stopped[1]},
        "run_dir": folder,
        "report": report,
    }


def replay_document(
    folder: str, part: str | None, outcome: ReplayOutcome, rerun_code: bool
) -> Document:
    """What ``replay`` prints: whether the replay came out as recorded (its sha256), the
    first difference, how the recorded run ended, and (with --rerun-code) the scripts run
    again."""
    from returns.result import Failure

    first = outcome.first_difference
    verdict = outcome.verdict
    if first is not None:
        difference: dict[str, str | None] | None = {"snapshot": first[0], "at": first[1]}
    elif not verdict.identical:
        difference = {"snapshot": None, "at": verdict.difference}
    elif outcome.changed_files:
        difference = {"file": outcome.changed_files[0][0], "at": outcome.changed_files[0][1]}
    else:
        difference = None
    halted = outcome.result.failure() if isinstance(outcome.result, Failure) else None
    code = {"rerun": outcome.code_rerun, "differences": list(outcome.code_differences)}
    return {
        "type": "replay",
        "run_dir": folder,
        "part": part,
        "identical": outcome.identical,
        "sha256": verdict.digest,
        "snapshots": len(outcome.snapshots),
        "difference": difference,
        "stopped": None
        if halted is None
        else {
            "kind": kind_of(halted.error),
            "message": halted.message,
        },
        "code": code if rerun_code else None,
    }


def check_document(folder: str, outcome: ReplayOutcome, drifted: dict[str, str]) -> Document:
    """What ``check`` prints: each recorded cassette, whether its requests still ``match``,
    ``changed`` (and where first), or were ``not_reached``."""
    cassettes = []
    for name in outcome.cassettes_recorded:
        if name in drifted:
            status = "changed"
        elif name in outcome.cassettes_used:
            status = "match"
        else:
            status = "not_reached"
        shown = name.replace(".json", "", 1)
        cassettes.append({"name": shown, "status": status, "change": drifted.get(name)})
    return {"type": "check", "run_dir": folder, "ok": not drifted, "cassettes": cassettes}


def show_document(folder: str, state: RunState, report: object) -> Document:
    """What ``show`` prints: the task, the status line, the sessions, each planned step
    with its outcome so far (null before it ran), and the report."""
    from plancontrol.app.cli.wording import as_flags
    from plancontrol.runs.folder import shown_statuses

    ctx = state.context
    steps = ctx.plan.steps if ctx.plan is not None else ()
    return {
        "type": "show",
        "run_dir": folder,
        "task": state.manifest.task,
        "status": state.status,
        "forked_from": state.manifest.forked_from,
        "fork_step": state.manifest.fork_step,
        "sessions": [
            # "killed" told, never written; a call the message suggests worded as a command
            {**msgspec.to_builtins(s), "status": status, "message": as_flags(s.message)}
            for s, status in zip(state.sessions, shown_statuses(state.sessions), strict=True)
        ],
        "plan": [
            {
                "step": number,
                "agent": step.agent,
                "sub_task": step.sub_task,
                "outcome": ctx.outcome(number),
            }
            for number, step in enumerate(steps, start=1)
        ],
        "report": report,
    }

"""What a run folder recorded of each step's attempts, approvals and files; reads only."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from returns.result import Failure, Success

from plancontrol.core.ports import Decision, Execution, decision_name
from plancontrol.handlers.executor import attempt_files
from plancontrol.runs.folder import Session, session_dir

__all__ = [
    "IMAGE_TYPES",
    "AttemptView",
    "Image",
    "Recorded",
    "attempts_of",
    "image",
    "recorded",
]

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}
"""The kinds of file a step's scripts produce that the report shows as pictures."""


class _Ran(msgspec.Struct, frozen=True, tag="Ran", tag_field="type"):
    step: int
    attempt: int
    filename: str
    result: Execution | None
    failure: str = ""


class _Decided(msgspec.Struct, frozen=True, tag="Decided", tag_field="type"):
    kind: str
    step: int
    decision: Decision


_RAN = msgspec.json.Decoder(_Ran)
_DECIDED = msgspec.json.Decoder(_Decided)


@dataclass(frozen=True)
class Image:
    """A picture a step's script saved: its path under work/ and the file as a data: URI."""

    name: str
    uri: str


@dataclass
class AttemptView:
    """One attempt as the report shows it."""

    number: int
    filename: str
    code: str
    exit_code: int | None = None
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    failure: str = ""
    decision: str = ""
    reason: str = ""


@dataclass
class Recorded:
    """Per step: the newest session's script runs, every approval decision, produced files."""

    runs: dict[int, list[_Ran]] = field(default_factory=dict)
    decisions: dict[int, list[str]] = field(default_factory=dict)
    files: dict[int, list[str]] = field(default_factory=dict)


def _lines(path: Path) -> list[bytes]:
    try:
        return path.read_bytes().split(b"\n")
    except OSError:
        return []


def _decided_text(entry: _Decided) -> str:
    name = decision_name(entry.decision)
    said = next(
        (getattr(entry.decision, a) for a in ("feedback", "reason") if hasattr(entry.decision, a)),
        "",
    )
    return f"{entry.kind}: {name}" + (f" ({said})" if said else "")


def _note(seen: Recorded, fresh: dict[int, list[_Ran]], line: bytes) -> None:
    if line.startswith(b'{"type":"Ran"'):
        try:
            ran = _RAN.decode(line)
        except msgspec.MsgspecError:  # a last line cut short by a killed process
            return
        fresh.setdefault(ran.step, []).append(ran)
    elif line.startswith(b'{"type":"Decided"'):
        try:
            decided = _DECIDED.decode(line)
        except msgspec.MsgspecError:
            return
        seen.decisions.setdefault(decided.step, []).append(_decided_text(decided))


def recorded(folder: Path, sessions: tuple[Session, ...]) -> Recorded:
    """Read every session's journal: a step run again in a later session keeps only that
    session's attempts; decisions are kept from all sessions."""
    seen = Recorded()
    for session in sessions:
        fresh: dict[int, list[_Ran]] = {}
        for line in _lines(session_dir(folder, session.number) / "journal.jsonl"):
            _note(seen, fresh, line)
        seen.runs.update(fresh)
    for step, runs in seen.runs.items():
        made = [f for r in runs if r.result is not None for f in r.result.files]
        seen.files[step] = list(dict.fromkeys(made))
    return seen


def _code(work: Path, ran: _Ran) -> str:
    from plancontrol.core.ports import Script

    kept, _ = attempt_files(
        Script(step=ran.step, attempt=ran.attempt, filename=ran.filename, code="")
    )
    try:
        return (work / kept).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def attempts_of(folder: Path, runs: list[_Ran]) -> list[AttemptView]:
    """The step's attempts from its journal entries, the code from the kept attempt files,
    verdicts left empty (``verdicts`` fills them from a replay of the step)."""
    work = folder / "work"
    views = []
    for ran in runs:
        view = AttemptView(ran.attempt, ran.filename, _code(work, ran), failure=ran.failure)
        if ran.result is not None:
            view.exit_code, view.timed_out = ran.result.exit_code, ran.result.timed_out
            view.stdout, view.stderr = ran.result.stdout, ran.result.stderr
        views.append(view)
    return views


def verdicts(folder: Path, step: int, attempts: list[AttemptView]) -> str:
    """Fill each attempt's judge verdict (and its code as run) from a replay of the step;
    the reason they could not be read, or an empty string."""
    from plancontrol.recording.attempts import step_record

    match step_record(folder, step):
        case Failure(problem):
            return f"the judge's verdicts could not be read back: {problem.message}"
        case Success(record):
            by_number = {a.number: a for a in record.attempts}
    for view in attempts:
        replayed = by_number.get(view.number)
        if replayed is not None:
            view.decision, view.reason = replayed.decision, replayed.reason
            view.code = replayed.code or view.code
    return ""


def image(folder: Path, name: str) -> Image | None:
    """The file ``name`` (relative to work/, else to the run folder) as an inline picture, or
    None when it is not a PNG, JPEG or SVG file that is there."""
    mime = IMAGE_TYPES.get(Path(name).suffix.lower())
    if mime is None:
        return None
    for base in (folder / "work", folder):
        path = base / name
        if path.is_file() and base.resolve() in path.resolve().parents:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return Image(name, f"data:{mime};base64,{data}")
    return None

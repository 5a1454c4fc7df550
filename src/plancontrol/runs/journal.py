"""The journal: every nondeterministic input besides model traffic, recorded and served back."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.errors import ExecutionFailure, ReplayDiverged
from plancontrol.core.ports import (
    Abort,
    ApprovalRequest,
    Approver,
    Clock,
    Decision,
    Execution,
    Executor,
    Script,
    Signals,
)
from plancontrol.core.problem import Problem
from plancontrol.runs.entries import (
    Checked,
    Decided,
    Entry,
    Installed,
    Negotiated,
    Ran,
    Saved,
    Ticked,
    Tooled,
)
from plancontrol.runs.folder import Session, damaged, session_dir
from plancontrol.runs.snapshots import digest

__all__ = [  # the entries (plancontrol.runs.entries) as well, where they were first defined
    "Checked",
    "Decided",
    "Entry",
    "Installed",
    "Journal",
    "JournalReplay",
    "Negotiated",
    "Ran",
    "RecordingApprover",
    "RecordingClock",
    "RecordingExecutor",
    "RecordingSignals",
    "Saved",
    "Ticked",
    "Tooled",
    "read_journal",
    "read_session_journal",
    "seal",
]


class Journal:
    """Appends entries to a file, one JSON object per line, flushed as they happen."""

    def __init__(self, path: Path, scrub: Callable[[bytes], bytes] = bytes) -> None:
        self.path = path
        self.scrub = scrub
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        self._encoder = msgspec.json.Encoder()

    def append(self, entry: Entry) -> None:
        self._file.write(self.scrub(self._encoder.encode(entry)) + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_journal(path: Path) -> Result[tuple[Entry, ...], Problem]:
    """The entries of a journal file; a bad line is named with its number."""
    decoder = msgspec.json.Decoder(Entry)
    entries: list[Entry] = []
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Failure(_unreadable(path, exc))
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line and number == len(lines):
            break
        try:
            entries.append(decoder.decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError) as exc:
            if number == len(lines):  # a last line cut short when the process was killed
                break
            return Failure(
                Problem(
                    what=f"{path}:{number}: not a journal entry ({exc})",
                    where=f"{path}:{number}",
                    fix="restore the journal from a copy",
                )
            )
    return Success(tuple(entries))


def _unreadable(path: Path, exc: OSError) -> Problem:
    return Problem(
        what=f"cannot read the journal {path}: {exc.strerror}",
        where=str(path),
        fix="restore it from a copy",
    )


def seal(path: Path) -> tuple[int, str]:
    """The size and sha256 of a closed journal, kept in its session's ``session.json``."""
    data = path.read_bytes()
    return len(data), digest(data)


def read_session_journal(folder: Path, session: Session) -> Result[tuple[Entry, ...], Problem]:
    """The journal of ``session`` in the run ``folder``, checked against what the session
    says it recorded: a session that ended sealed its journal's size and sha256; every
    snapshot a session wrote was journaled first. Only a journal whose process was killed
    may end in a line cut short (it is skipped); any other damage is a one-line Failure.

    >>> import tempfile
    >>> from plancontrol.runs.folder import write_session
    >>> run = Path(tempfile.mkdtemp())
    >>> journal = Journal(session_dir(run, 1) / "journal.jsonl")
    >>> journal.append(Ticked(1.5)); journal.close()
    >>> size, sha = seal(journal.path)
    >>> ended = Session(number=1, command="run", status="completed", journal_bytes=size,
    ...                 journal_sha256=sha)
    >>> read_session_journal(run, ended).unwrap()
    (Ticked(value=1.5),)
    >>> _ = journal.path.write_bytes(b'{"type":"Tic')
    >>> print(read_session_journal(run, ended).failure().message)  # doctest: +ELLIPSIS
    /.../sessions/01/journal.jsonl is damaged (cut short or edited: 12 bytes where its ...
    """
    where = session_dir(folder, session.number)
    path = where / "journal.jsonl"
    if session.journal_sha256 is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return Failure(_unreadable(path, exc))
        if len(data) != session.journal_bytes:
            how = f"{len(data)} bytes where its session.json recorded {session.journal_bytes}"
        elif digest(data) != session.journal_sha256:
            how = "its sha256 differs from the one its session.json recorded"
        else:
            how = ""
        if how:
            return Failure(damaged(path, f"cut short or edited: {how}"))
    match read_journal(path):
        case Failure(problem):
            return Failure(problem)
        case Success(entries):
            pass
    journaled = {e.label for e in entries if isinstance(e, Saved)}
    for snapshot in sorted((where / "snapshots").glob("*.json")):
        if snapshot.stem not in journaled:
            return Failure(
                damaged(
                    path,
                    f"cut short: it does not record the snapshot {snapshot.name} the session wrote",
                )
            )
    return Success(entries)


def _outcome(result: Result[Execution, ExecutionFailure]) -> tuple[Execution | None, str]:
    match result:
        case Success(run):
            return run, ""
        case Failure(error):
            return None, error.detail
    raise AssertionError("unreachable")  # pragma: no cover


class RecordingExecutor:
    """Runs scripts with ``inner`` and journals each result."""

    def __init__(self, inner: Executor, journal: Journal) -> None:
        self.inner = inner
        self.journal = journal

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        result = self.inner.run(script)
        run, failure = _outcome(result)
        self.journal.append(Ran(script.step, script.attempt, script.filename, run, failure))
        return result

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        result = self.inner.install(step, packages)
        run, failure = _outcome(result)
        self.journal.append(Installed(step, packages, run, failure))
        return result


class RecordingClock:
    """Reads ``inner`` and journals each reading."""

    def __init__(self, inner: Clock, journal: Journal) -> None:
        self.inner = inner
        self.journal = journal

    def now(self) -> float:
        value = self.inner.now()
        self.journal.append(Ticked(value))
        return value


class RecordingApprover:
    """Asks ``inner`` and journals each decision."""

    def __init__(self, inner: Approver, journal: Journal) -> None:
        self.inner = inner
        self.journal = journal

    def decide(self, request: ApprovalRequest) -> Decision:
        decision = self.inner.decide(request)
        self.journal.append(Decided(request.kind, request.step, decision))
        return decision


class RecordingSignals:
    """Asks ``inner`` whether to go on and journals each answer."""

    def __init__(self, inner: Signals, journal: Journal) -> None:
        self.inner = inner
        self.journal = journal

    def should_continue(self, step: int) -> bool:
        proceed = self.inner.should_continue(step)
        self.journal.append(Checked(step, proceed))
        return proceed


def _entry_text(index: int, entry: Entry | None) -> str:
    """An entry as a replay's error names it: its number in the journal and what it holds."""
    if entry is None:
        return "none left"
    match entry:
        case Ran(step=step, attempt=attempt, filename=name):
            held = f"the result of {name} (step {step}, attempt {attempt})"
        case Installed(step=step, packages=packages):
            held = f"an installation of {', '.join(packages)} at step {step}"
        case Ticked():
            held = "a clock reading"
        case Decided(kind=kind, step=step):
            held = f"a decision on the {kind} at step {step}"
        case Checked(step=step):
            held = f"a go-on check before step {step}"
        case Tooled():
            held = _tool_text(entry)
        case _:
            held = type(entry).__name__
    return f"#{index + 1}, {held}"


def _tool_text(call: Tooled) -> str:
    """A tool call as a replay's error names it.

    >>> _tool_text(Tooled("counter", 1, "count_primes", {"limit": 20}))
    "the counter's call count_primes(limit=20) at step 1"
    """
    given = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
    return f"the {call.role}'s call {call.name}({given}) at step {call.step}"


class JournalReplay:
    """Serves journaled results in order, as the executor, the clock, the approver, the
    signals and the agents' tools; nothing runs: a script is answered with what it printed
    when recorded, a tool call with what the tool returned.

    A request the journal does not hold next (another script, a decision on another step,
    nothing left) is never answered live: it is kept in ``diverged`` (naming the entry and
    the request) and answered so that the run stops at once: the script fails, the decision
    aborts, the go-on check cancels, the clock stands still. The replay turns that stop into
    the ``ReplayDiverged`` Failure.
    """

    def __init__(self, entries: tuple[Entry, ...]) -> None:
        self._queues: dict[type[Any], deque[tuple[int, Any]]] = {
            kind: deque((i, e) for i, e in enumerate(entries) if isinstance(e, kind))
            for kind in (Ran, Installed, Ticked, Decided, Checked, Tooled)
        }
        self.diverged: ReplayDiverged | None = None
        self._last_tick = 0.0
        self._tool_lock = threading.Lock()  # ag2 runs synchronous tools in worker threads

    def _serve(self, kind: type[Any], fits: Callable[[Any], bool], request: str) -> Any:
        """The next entry of ``kind`` when it answers ``request``; else None, noted."""
        if self.diverged is not None:
            return None
        queue = self._queues[kind]
        index, entry = queue[0] if queue else (-1, None)
        if entry is None or not fits(entry):
            self.diverged = ReplayDiverged(entry=_entry_text(index, entry), request=request)
            return None
        queue.popleft()
        return entry

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        asked = f"the result of {script.filename} (step {script.step}, attempt {script.attempt})"
        entry: Ran | None = self._serve(
            Ran, lambda e: (e.step, e.attempt) == (script.step, script.attempt), asked
        )
        if entry is None:
            return Failure(ExecutionFailure(step=script.step, detail=self._why()))
        if entry.result is None:
            return Failure(ExecutionFailure(step=script.step, detail=entry.failure))
        return Success(entry.result)

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        asked = f"an installation of {', '.join(packages)} at step {step}"
        entry: Installed | None = self._serve(
            Installed, lambda e: (e.step, e.packages) == (step, packages), asked
        )
        if entry is None or entry.result is None:
            return Failure(
                ExecutionFailure(step=step, detail=entry.failure if entry else self._why())
            )
        return Success(entry.result)

    def now(self) -> float:
        entry: Ticked | None = self._serve(Ticked, lambda e: True, "a clock reading")
        if entry is not None:
            self._last_tick = entry.value
        return self._last_tick

    def should_continue(self, step: int) -> bool:
        asked = f"a go-on check before step {step}"
        entry: Checked | None = self._serve(Checked, lambda e: e.step == step, asked)
        return entry is not None and entry.proceed

    def decide(self, request: ApprovalRequest) -> Decision:
        asked = f"a decision on the {request.kind} at step {request.step}"
        entry: Decided | None = self._serve(
            Decided, lambda e: (e.kind, e.step) == (request.kind, request.step), asked
        )
        return Abort(reason=self._why()) if entry is None else entry.decision

    def tool(self, role: str, step: int, name: str, arguments: dict[str, Any]) -> Tooled | None:
        """The recorded result of ``role``'s call ``name(**arguments)`` at ``step`` (None:
        diverged). The calls of one turn may be recorded in any order (ag2 runs them side by
        side), so any call of the turn at the head of the journal answers it."""
        asked = _tool_text(Tooled(role, step, name, arguments))
        with self._tool_lock:
            queue = self._queues[Tooled]
            turn = itertools.takewhile(lambda q: (q[1].role, q[1].step) == (role, step), queue)
            found = next(
                (q for q in turn if (q[1].name, q[1].arguments) == (name, arguments)), None
            )
            if found is not None and self.diverged is None:
                queue.remove(found)
                entry: Tooled = found[1]
                return entry
            self._serve(Tooled, lambda e: False, asked)  # noted, naming the entry held next
            return None

    def _why(self) -> str:
        assert self.diverged is not None
        return self.diverged.message

    @property
    def unplayed(self) -> dict[str, int]:
        """Entries left over, per kind (empty when the replay used the whole journal)."""
        return {kind.__name__: len(q) for kind, q in self._queues.items() if q}

"""The run folder on disk: its manifest and sessions, read and written; new folders claimed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec
from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.problem import Problem
from plancontrol.core.settings import Settings
from plancontrol.handlers.defaults import CODE_TIMEOUT
from plancontrol.handlers.files import write_atomic
from plancontrol.handlers.routes import Route
from plancontrol.runs.lock import LOCK

__all__ = [
    "FORMAT",
    "READS",
    "Manifest",
    "PhaseRecord",
    "RunOptions",
    "Session",
    "SessionStatus",
    "claim",
    "damaged",
    "format_of",
    "manifest_reads",
    "read_manifest",
    "read_session",
    "read_sessions",
    "reserve",
    "save_manifest",
    "session_dir",
    "shown_statuses",
    "unreserve",
    "write_manifest",
    "write_session",
]

FORMAT = 4
"""Version of the run folder's layout that this plancontrol writes: 4 stores a session's
snapshots after its first as deltas (``runs.deltas``); 3 kept each whole."""

READS = (3, 4)
"""The versions this plancontrol reads; a folder of another version is refused, not guessed."""


class RunOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a session reached its models and ran scripts (keys never included)."""

    default_route: Route
    routes: tuple[tuple[str, Route], ...] = ()
    code_timeout: float = CODE_TIMEOUT
    allow_install: bool = False
    python: str = ""
    """The interpreter that runs the scripts and pip ("": the one plancontrol runs under)."""
    pass_env: tuple[str, ...] = ()
    """Variables the scripts get although their names say they hold a credential."""
    interpreter: str = ""
    """What the code roles were told of ``python``: its version and packages."""


class PhaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One phase of the pipeline a run was recorded with: its name and the functions it
    runs, each as ``module:qualified.name`` so that replay, resume and fork import them."""

    name: str
    run: str
    step: str | None = None
    gate: str | None = None


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a run folder holds and how it was made (keys never included)."""

    format: int
    plancontrol: str
    ag2: str
    task: str
    settings: Settings
    default_route: Route
    routes: tuple[tuple[str, Route], ...] = ()
    forked_from: str | None = None
    fork_step: int = 0
    code_timeout: float = CODE_TIMEOUT
    allow_install: bool = False
    python: str = ""
    pass_env: tuple[str, ...] = ()
    interpreter: str = ""
    pipeline: tuple[PhaseRecord, ...] | None = None
    """The pipeline the run was recorded with (None: the built-in planning and control)."""

    @property
    def options(self) -> RunOptions:
        """How the run's first session reached its models and ran scripts."""
        return RunOptions(
            default_route=self.default_route,
            routes=self.routes,
            code_timeout=self.code_timeout,
            allow_install=self.allow_install,
            python=self.python,
            pass_env=self.pass_env,
            interpreter=self.interpreter,
        )


SessionStatus = Literal["running", "completed", "failed", "cancelled", "interrupted"]
"""How a session ended; ``running`` on disk means the process died without saying."""


class Session(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One command's part of a run (``run``, then each ``resume``; a fork's own part): it
    starts from scratch or after a snapshot of an earlier session, and records into
    ``sessions/NN/`` its cassettes, journal and snapshots. Once it ends, the size and
    sha256 of its journal are kept here, so that a journal cut short or edited later is
    told from one whose process was killed."""

    number: int
    command: Literal["run", "resume", "fork"]
    starts_after: str | None = None
    status: SessionStatus = "running"
    ends_after: str | None = None
    message: str = ""
    journal_bytes: int | None = None
    journal_sha256: str | None = None
    options: RunOptions | None = None
    """How this session reached its models and ran scripts (a resume or fork may change
    them); None in sessions recorded before sessions said so: the manifest's."""


def session_dir(folder: Path, number: int) -> Path:
    """Where session ``number`` of the run in ``folder`` keeps its records."""
    return folder / "sessions" / f"{number:02d}"


def shown_statuses(sessions: tuple[Session, ...]) -> tuple[str, ...]:
    """Each session's status as ``plancontrol show`` gives it: one still ``running`` on disk
    though a later session followed it was killed (it never recorded its end).

    >>> shown_statuses((Session(number=1, command="run"), Session(number=2, command="resume")))
    ('killed', 'running')
    """
    last = len(sessions) - 1
    return tuple(
        "killed" if s.status == "running" and i < last else s.status for i, s in enumerate(sessions)
    )


def claim(folder: Path) -> bool:
    """Create ``folder`` for a new run (atomically: of two processes, one makes it); False,
    touching nothing, when it already holds files (nothing recorded is ever overwritten).
    An empty folder, or one holding only a lock file, is taken as it is."""
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        return folder.is_dir() and all(p.name == LOCK for p in folder.iterdir())
    return True


def reserve(parent: Path, stem: str) -> Path:
    """A new empty folder in ``parent`` named ``stem``, or ``stem-2``, ``stem-3``… when that
    is taken: made atomically, so that runs started together never share one.

    >>> import tempfile
    >>> where = Path(tempfile.mkdtemp())
    >>> [reserve(where, "run").name, reserve(where, "run").name]
    ['run', 'run-2']
    """
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        folder = parent / (stem if n == 1 else f"{stem}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{parent / stem}: 9999 folders of that name exist")


def unreserve(folder: Path) -> None:
    """Remove ``folder`` if it is still empty (a run that never began leaves nothing)."""
    with contextlib.suppress(OSError):
        folder.rmdir()


def write_manifest(
    folder: Path,
    task: str,
    settings: Settings,
    default: Route,
    routes: tuple[tuple[str, Route], ...],
    scrub: Callable[[bytes], bytes] = bytes,
    *,
    code_timeout: float = CODE_TIMEOUT,
    allow_install: bool = False,
    python: str = "",
    pass_env: tuple[str, ...] = (),
    interpreter: str = "",
    pipeline: tuple[PhaseRecord, ...] | None = None,
) -> Manifest:
    """Write ``manifest.json`` with every route's key removed (and ``scrub`` applied), the
    scripts' limits the run started with and the pipeline it runs."""
    from importlib.metadata import version

    from plancontrol._version import __version__

    manifest = Manifest(
        format=FORMAT,
        plancontrol=__version__,
        ag2=version("ag2"),
        task=task,
        settings=settings,
        default_route=replace(default, api_key=None),
        routes=tuple((name, replace(route, api_key=None)) for name, route in routes),
        code_timeout=code_timeout,
        allow_install=allow_install,
        python=python,
        pass_env=pass_env,
        interpreter=interpreter,
        pipeline=pipeline,
    )
    save_manifest(folder, manifest, scrub)
    return manifest


def save_manifest(
    folder: Path, manifest: Manifest, scrub: Callable[[bytes], bytes] = bytes
) -> None:
    """Write ``manifest`` to ``folder/manifest.json`` atomically."""
    data = msgspec.json.format(msgspec.json.encode(manifest)) + b"\n"
    write_atomic(folder / "manifest.json", scrub(data))


def damaged(path: Path, how: object) -> Problem:
    """A record of the run that does not read as written (``how``: what is wrong with it)."""
    return Problem(
        what=f"{path} is damaged ({how})",
        where=str(path),
        fix="restore it from a copy of the run folder",
    )


def _not_a_run(folder: Path, what: str) -> Problem:
    return Problem(what=what, where=str(folder), fix="pass the folder that `plancontrol run` wrote")


def read_manifest(folder: Path) -> Result[Manifest, Problem]:
    """The folder's manifest, or the reason it cannot be used."""
    path = folder / "manifest.json"
    if not folder.is_dir():
        return Failure(_not_a_run(folder, f"{folder} is not a folder"))
    if not path.is_file():
        return Failure(
            _not_a_run(folder, f"{folder} is not a plancontrol run folder (no manifest.json)")
        )
    try:
        raw = msgspec.json.decode(path.read_bytes())
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        return Failure(damaged(path, exc))
    found = raw.get("format") if isinstance(raw, dict) else None
    if found not in READS:
        return Failure(
            Problem(
                what=f"{path} has format {found!r}",
                where=str(path),
                fix=f"this plancontrol reads formats {' and '.join(map(str, READS))}: use the "
                f"plancontrol version that wrote it ({_writer(raw)}) or record the run again",
            )
        )
    try:
        return Success(msgspec.convert(raw, Manifest))
    except msgspec.ValidationError as exc:
        return Failure(damaged(path, exc))


def format_of(folder: Path) -> int:
    """The format the manifest in ``folder`` gives (``FORMAT`` when it gives none): a new
    session of a format-3 run writes its snapshots whole, so that the folder stays one.

    >>> import tempfile
    >>> format_of(Path(tempfile.mkdtemp()))
    4
    """
    try:
        found = msgspec.json.decode((folder / "manifest.json").read_bytes()).get("format")
    except (OSError, msgspec.DecodeError, AttributeError, RecursionError):
        return FORMAT
    return found if isinstance(found, int) else FORMAT


def manifest_reads(data: bytes) -> Manifest:
    """The manifest in ``data``; a ValueError when it does not decode as one."""
    return msgspec.json.decode(data, type=Manifest)


def _writer(raw: Any) -> str:
    return str(raw.get("plancontrol", "unknown")) if isinstance(raw, dict) else "unknown"


def write_session(folder: Path, session: Session) -> None:
    """Write ``session.json`` of ``session`` in ``folder``'s sessions, atomically."""
    data = msgspec.json.format(msgspec.json.encode(session)) + b"\n"
    write_atomic(session_dir(folder, session.number) / "session.json", data)


def read_session(path: Path) -> Result[Session, Problem]:
    """The session described by the ``session.json`` at ``path``."""
    try:
        return Success(msgspec.json.decode(path.read_bytes(), type=Session))
    except OSError as exc:
        return Failure(
            Problem(
                what=f"cannot read {path}: {exc.strerror}",
                where=str(path),
                fix="restore it from a copy",
            )
        )
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        return Failure(damaged(path, exc))


def read_sessions(folder: Path) -> Result[tuple[Session, ...], Problem]:
    """The sessions of the run in ``folder``, oldest first, numbered 1, 2, … without gaps."""
    sessions: list[Session] = []
    root = folder / "sessions"
    paths = sorted(root.glob("*/session.json")) if root.is_dir() else []
    for number, path in enumerate(paths, start=1):
        match read_session(path):
            case Success(session) if session.number == number and path.parent.name == (
                f"{number:02d}"
            ):
                sessions.append(session)
            case Success(_):
                return Failure(
                    Problem(
                        what=f"{path} is out of sequence: expected session {number}",
                        where=str(path),
                    )
                )
            case Failure(problem):
                return Failure(problem)
    if not sessions:
        return Failure(
            Problem(
                what=f"{root} holds no session: the run folder is incomplete",
                where=str(root),
                fix="record the run again",
            )
        )
    return Success(tuple(sessions))

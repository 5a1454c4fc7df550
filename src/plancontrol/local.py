"""Real effect handlers on this machine: a run folder, code run in subprocesses, the clock."""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.context import Context, encode_context
from plancontrol.effects import ApprovalRequest, Approve, Decision, Execution, Script
from plancontrol.errors import ExecutionFailure
from plancontrol.events import Event

__all__ = [
    "ApproveAll",
    "DiscardEvents",
    "FolderCheckpoints",
    "FolderWorkspace",
    "SubprocessExecutor",
    "SystemClock",
    "Uninterrupted",
]

_CHUNK = 65_536
_POLL_SECONDS = 0.02
_DRAIN_SECONDS = 2.0
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_CLAUSE = r"(?:~=|===|==|!=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+"
_REQUIREMENT = re.compile(rf"{_NAME}(?:\[{_NAME}(?:,{_NAME})*\])?(?:{_CLAUSE}(?:,{_CLAUSE})*)?")
"""A PEP 508 name with optional extras and version clauses: no URLs, options or spaces."""


def _inside(root: Path, path: str) -> str:
    """``path`` normalised to forward slashes; ValueError if it is absolute or leaves ``root``."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or str(pure) == ".":
        raise ValueError(f"expected a file path relative to {root}, got {path!r}")
    if not (root / pure).resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{path!r} leads outside {root} through a symbolic link")
    return pure.as_posix()


def _write_atomic(target: Path, content: str) -> None:
    """Write through a temporary file in the same folder: readers see the old or the new text."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes the file private to its owner
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


class FolderWorkspace:
    """The run's files under ``root``: relative paths with forward slashes, atomic writes.

    A path that is absolute or climbs out of the folder is a bug in the caller:

    >>> FolderWorkspace("run").write("../elsewhere.md", "text")
    Traceback (most recent call last):
    ValueError: expected a file path relative to run, got '../elsewhere.md'
    """

    def __init__(self, root: Path | str, scrub: Callable[[str], str] = str) -> None:
        self.root = Path(root)
        self.scrub = scrub

    def write(self, path: str, content: str) -> str:
        relative = _inside(self.root, path)
        _write_atomic(self.root / relative, self.scrub(content))
        return relative

    def read(self, path: str) -> str | None:
        target = self.root / _inside(self.root, path)
        try:
            with open(target, encoding="utf-8", errors="replace", newline="") as file:
                return file.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None


class _Capture:
    """Decodes a stream as it arrives, keeping only its head and tail (bounded memory)."""

    def __init__(self, limit: int) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head_size = limit // 2
        self._tail_size = limit - self._head_size
        self._head = ""
        self._tail = ""
        self._seen = 0

    def add(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        self._seen += len(text)
        room = self._head_size - len(self._head)
        if room > 0:
            self._head, text = self._head + text[:room], text[room:]
        tail = self._tail + text
        self._tail = tail[max(0, len(tail) - self._tail_size) :]

    def text(self) -> str:
        self.add(b"", final=True)
        cut = self._seen - len(self._head) - len(self._tail)
        marker = f"\n[… {cut} characters cut …]\n" if cut else ""
        return f"{self._head}{marker}{self._tail}"


def _exited(pid: int) -> bool:
    """Whether the child has ended, leaving it unreaped so its group id cannot be reused yet."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped elsewhere
        return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _pump(selector: selectors.BaseSelector, captures: dict[int, _Capture], wait: float) -> None:
    """Read what the pipes have ready (waiting at most ``wait`` seconds); forget closed ones."""
    for key, _ in selector.select(wait):
        data = os.read(key.fd, _CHUNK)
        if data:
            captures[key.fd].add(data)
        else:
            selector.unregister(key.fd)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but ``__pycache__``) -> (mtime_ns, size)."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = Path(folder, name)
            with contextlib.suppress(OSError):
                stat = path.lstat()
                found[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


class SubprocessExecutor:
    """Runs scripts with ``python`` in ``work_dir``, each in its own process group (POSIX).

    The timeout is enforced by killing the whole group; when a script ends, any process it
    left behind in its group is killed too. Output beyond ``output_limit`` characters keeps
    its head and tail. ``install`` runs pip only when ``allow_install`` is True.
    """

    def __init__(
        self,
        work_dir: Path | str,
        *,
        timeout: float = 600.0,
        output_limit: int = 20_000,
        python: str = sys.executable,
        allow_install: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if timeout <= 0 or output_limit < 0:
            raise ValueError(
                f"need timeout > 0 and output_limit >= 0, got {timeout}, {output_limit}"
            )
        self.work_dir = Path(work_dir)
        self.timeout = timeout
        self.output_limit = output_limit
        self.python = python
        self.allow_install = allow_install
        self.env = dict(os.environ if env is None else env)
        self.env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        """Save ``script.code`` as ``script.filename`` in the work folder, run it there, and
        list the files the run created or changed."""
        filename = _inside(self.work_dir, script.filename)
        try:
            _write_atomic(self.work_dir / filename, script.code)
        except OSError as exc:
            detail = f"cannot save {filename} in {self.work_dir} ({exc}); check the folder"
            return Failure(ExecutionFailure(step=script.step, detail=detail))
        before = _snapshot(self.work_dir)

        def with_files(run: Execution) -> Execution:
            after = _snapshot(self.work_dir)
            changed = (p for p, sig in after.items() if p != filename and before.get(p) != sig)
            # Python prints the script's absolute path in tracebacks: make it relative, so the
            # model, the journal and the cassettes never see where the run folder lives.
            root = f"{self.work_dir.resolve()}/"
            return msgspec.structs.replace(
                run,
                files=tuple(sorted(changed)),
                stdout=run.stdout.replace(root, ""),
                stderr=run.stderr.replace(root, ""),
            )

        return self._execute(script.step, [self.python, filename]).map(with_files)

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        """``pip install`` the packages, if allowed and every name is a plain requirement."""
        names = " ".join(packages)
        if not self.allow_install:
            return Success(
                Execution(
                    exit_code=1,
                    stderr="installing packages is turned off; allow it with allow_install=True "
                    f"(or install them yourself): {names}",
                )
            )
        bad = next((p for p in packages if not _REQUIREMENT.fullmatch(p)), None if packages else "")
        if bad is not None:
            return Success(
                Execution(
                    exit_code=2,
                    stderr=f"refused to install {bad!r}: expected a package name with an "
                    "optional version, like 'numpy>=1.26' (no options, URLs or spaces)",
                )
            )
        return self._execute(step, [self.python, "-m", "pip", "install", *packages])

    def _execute(self, step: int, argv: list[str]) -> Result[Execution, ExecutionFailure]:
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            proc = subprocess.Popen(
                argv,
                cwd=self.work_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            detail = f"cannot start {argv[0]!r} ({exc}); pass python= a working interpreter"
            return Failure(ExecutionFailure(step=step, detail=detail))
        with proc:
            try:
                stdout, stderr, timed_out = self._collect(proc)
            except BaseException:
                _kill_group(proc.pid)
                raise
        return Success(
            Execution(exit_code=proc.returncode, stdout=stdout, stderr=stderr, timed_out=timed_out)
        )

    def _collect(self, proc: subprocess.Popen[bytes]) -> tuple[str, str, bool]:
        """Read both pipes until the process ends or time is up; then kill its group and drain."""
        assert proc.stdout is not None
        assert proc.stderr is not None
        out, err = proc.stdout.fileno(), proc.stderr.fileno()
        captures = {out: _Capture(self.output_limit), err: _Capture(self.output_limit)}
        deadline = time.monotonic() + self.timeout
        with selectors.DefaultSelector() as selector:
            for fd in captures:
                selector.register(fd, selectors.EVENT_READ)
            while not _exited(proc.pid) and (left := deadline - time.monotonic()) > 0:
                _pump(selector, captures, min(left, _POLL_SECONDS))
            timed_out = not _exited(proc.pid)
            _kill_group(proc.pid)  # on time-out, and whatever a finished script left running
            # drain, but not forever: a process that left the group may hold the pipes open
            deadline = time.monotonic() + _DRAIN_SECONDS
            while selector.get_map() and (left := deadline - time.monotonic()) > 0:
                _pump(selector, captures, left)
        return captures[out].text(), captures[err].text(), timed_out


class SystemClock:
    """The machine's wall clock, in seconds since the epoch."""

    def now(self) -> float:
        return time.time()


class ApproveAll:
    """The approver of an unattended run: every plan and step goes ahead."""

    def decide(self, request: ApprovalRequest) -> Decision:
        return Approve()


class Uninterrupted:
    """Signals for a run that nothing pauses or cancels between steps."""

    def should_continue(self, step: int) -> bool:
        return True


class DiscardEvents:
    """An event sink for quiet runs: drops every event."""

    def emit(self, event: Event) -> None:
        return None


class FolderCheckpoints:
    """Writes each snapshot as ``snapshots/LABEL.json`` under ``root``, atomically."""

    def __init__(self, root: Path | str, scrub: Callable[[str], str] = str) -> None:
        self.root = Path(root)
        self.scrub = scrub

    def save(self, label: str, ctx: Context) -> None:
        text = self.scrub(encode_context(ctx).decode())
        _write_atomic(self.root / "snapshots" / f"{label}.json", text)

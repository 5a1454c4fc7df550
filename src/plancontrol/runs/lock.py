"""One writer per run folder: a lock file holding the writer's PID, released when it ends."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.core.problem import Problem

__all__ = ["LOCK", "FolderLock", "holder", "in_use", "lock", "lock_new"]

LOCK = "lock"
"""The lock file in a run folder: ``PID START`` of the process writing the run (START is the
process's start time from ``/proc/PID/stat``, so that a PID reused by another process is not
taken for the writer). It exists only while a command writes the run, or after a crash."""


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), "" where ``/proc`` is not
    available, or None when no such process is running.

    >>> _started(os.getpid()) is not None
    True
    """
    if not Path("/proc/self/stat").exists():
        return _alive_elsewhere(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return _alive_elsewhere(pid)
    # the second field (the command name, in parentheses) may hold spaces and parentheses
    fields = stat.rsplit(b")", 1)[-1].split()
    return fields[19].decode() if len(fields) > 19 else ""


def _alive_elsewhere(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


def holder(folder: Path) -> int | None:
    """The PID of the live process that holds ``folder``'s lock, or None (no lock file, or
    one left by a process that died, or whose PID now belongs to another process). Reads
    only."""
    try:
        text = (folder / LOCK).read_text(encoding="ascii")
    except (OSError, UnicodeError):
        return None
    match text.split():
        case [pid, start] if pid.isdigit():
            running = _started(int(pid))
            return int(pid) if running is not None and running in ("", start) else None
        case _:
            return None


def in_use(folder: Path, pid: int) -> Problem:
    """The refusal for a folder another process is writing."""
    return Problem(
        what=f"{folder} is in use by pid {pid} (a plancontrol command still writing it)",
        where=str(folder),
        fix=f"wait until it ends or stop it (kill {pid}), then try again",
    )


class FolderLock:
    """A held lock: an exclusive ``flock`` on the folder's lock file, which names this
    process; the kernel drops the ``flock`` when the process dies, however it dies."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file (when it is still this lock's) and let go of it."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def lock(folder: Path, patience: float = 0.5) -> Result[FolderLock, Problem]:
    """Take ``folder``'s lock, or say which live process holds it. A lock file left by a
    process that died (or whose PID was reused) is taken over; nothing is written when the
    lock is refused."""
    import fcntl  # POSIX only: imported here so that reading a run folder needs no lock

    path = folder / LOCK
    deadline = time.monotonic() + patience
    while True:
        match _open(folder, path):
            case Failure(problem):
                return Failure(problem)
            case Success(fd):
                pass
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            held = _held(folder, deadline)
            if held is not None:
                return Failure(held)
            time.sleep(0.01)
            continue
        if not _still_there(path, fd):  # its holder removed it as we opened it: take the new one
            os.close(fd)
            continue
        me = os.getpid()
        os.ftruncate(fd, 0)
        os.write(fd, f"{me} {_started(me) or ''}\n".encode("ascii"))
        return Success(FolderLock(path, fd))


def _open(folder: Path, path: Path) -> Result[int, Problem]:
    """The lock file at ``path``, opened (made when missing)."""
    try:
        return Success(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        return Failure(
            Problem(
                what=f"cannot lock {folder}: {exc.strerror}",
                where=str(folder),
                fix="check that it is a folder",
            )
        )


def _held(folder: Path, deadline: float) -> Problem | None:
    """Why ``folder``, whose lock another process holds, cannot be taken: the live process
    that said it holds it, or the wait past ``deadline``; None: try again."""
    pid = holder(folder)
    if pid is not None:
        return in_use(folder, pid)
    if time.monotonic() > deadline:  # held, but its holder has not said who it is
        return Problem(
            what=f"{folder} is in use by another process",
            where=str(folder),
            fix="wait until it ends, then try again",
        )
    return None


def _still_there(path: Path, fd: int) -> bool:
    """Whether the lock file opened as ``fd`` is still the one at ``path``."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def lock_new(folder: Path, refusal: Problem) -> Result[FolderLock, Problem]:
    """Make ``folder`` for a new run (created atomically; an empty one is taken too) and
    take its lock; ``refusal`` when it holds files, and the holder's PID when another
    process is writing it. Nothing is changed when it is refused."""
    from plancontrol.runs.folder import claim

    if not claim(folder):
        pid = holder(folder)
        return Failure(in_use(folder, pid) if pid is not None else refusal)
    taken = lock(folder)
    if isinstance(taken, Success) and any(p.name != LOCK for p in folder.iterdir()):
        taken.unwrap().release()  # another process filled it between the claim and the lock
        return Failure(refusal)
    return taken

"""Real effect handlers on this machine: a run folder, code run in subprocesses, the clock."""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import Literal, NamedTuple

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.errors import ExecutionFailure
from plancontrol.core.events import Event
from plancontrol.core.ports import ApprovalRequest, Approve, Decision, Execution, Script
from plancontrol.handlers.files import write_atomic
from plancontrol.handlers.secrets import without_secrets
from plancontrol.handlers.workspace import inside

__all__ = [
    "ApproveAll",
    "DiscardEvents",
    "SubprocessExecutor",
    "SystemClock",
    "Uninterrupted",
    "attempt_files",
    "describe_python",
    "python_path",
]

_CHUNK = 65_536
_POLL_SECONDS = 0.02
_DRAIN_SECONDS = 2.0
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_CLAUSE = r"(?:~=|===|==|!=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+"
_REQUIREMENT = re.compile(rf"{_NAME}(?:\[{_NAME}(?:,{_NAME})*\])?(?:{_CLAUSE}(?:,{_CLAUSE})*)?")
"""A PEP 508 name with optional extras and version clauses: no URLs, options or spaces."""


class _Capture:
    """Decodes a stream as it arrives, keeping only its head and tail (bounded memory)."""

    def __init__(self, limit: int) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head_size = limit // 2
        self._tail_size = limit - self._head_size
        self._head = ""
        self._tail = ""
        self._seen = 0
        self.size = 0
        """Bytes read so far."""

    def add(self, data: bytes, final: bool = False) -> None:
        self.size += len(data)
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


_HIDDEN = ".plancontrol"
"""The executor's own folder in the work folder: kept copies, the scripts' home and temp."""
_MiB = 1 << 20
_GiB = 1 << 30
_COPY_LIMIT = 64 * _MiB
"""Files up to this size are kept as copies; larger ones as hard links (deletion only)."""


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but ``__pycache__`` and ``.plancontrol``) -> (mtime_ns, size)."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and (d != _HIDDEN or folder != str(root))]
        for name in names:
            path = Path(folder, name)
            with contextlib.suppress(OSError):
                stat = path.lstat()
                found[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


def _size(n: int) -> str:
    """A byte count for people.

    >>> _size(4 << 30), _size(3 << 19), _size(1000)
    ('4 GiB', '1.5 MiB', '1000 bytes')
    """
    if n >= _GiB:
        return f"{n / _GiB:g} GiB"
    return f"{n / _MiB:g} MiB" if n >= _MiB else f"{n} bytes"


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class _Kept(msgspec.Struct, frozen=True, array_like=True):
    """What the executor knows of one file in the work folder."""

    step: int
    """The step whose script made (or last changed) it; 0 when no script did."""
    mtime_ns: int
    size: int
    sha256: str = ""
    """Of the copy kept of this version; ``linked`` for a hard link; "" when none is kept."""

    @property
    def signature(self) -> tuple[int, int]:
        return (self.mtime_ns, self.size)


_KEPT_INDEX = msgspec.json.Decoder(dict[str, _Kept])


class _Keeper:
    """Protects the files of earlier steps from the script of a later one.

    Before a script runs, each file in the work folder that an earlier step's script made
    (or that no script made: inputs, reports, the run's records) is kept under
    ``.plancontrol/kept/step_N/`` (copied once per version; a file larger than
    ``_COPY_LIMIT`` is hard-linked, which guards against deletion only). After the script,
    a deleted file is put back, and so is a changed file that no script made; a changed
    file of an earlier step is put back too with ``restore_changed``, else left as the
    script made it, its earlier version kept. Each case is noted for the judge.
    """

    def __init__(self, root: Path, restore_changed: bool) -> None:
        self.root = root
        self.store = root / _HIDDEN / "kept"
        self.index = root / _HIDDEN / "kept.json"
        self.restore_changed = restore_changed

    def _load(self) -> dict[str, _Kept]:
        try:
            return _KEPT_INDEX.decode(self.index.read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return {}  # lost or damaged: every file is then treated as made before the step

    def _save(self, index: dict[str, _Kept]) -> None:
        with contextlib.suppress(OSError):
            write_atomic(self.index, msgspec.json.encode(dict(sorted(index.items()))).decode())

    def _kept(self, path: str, entry: _Kept) -> Path:
        return self.store / f"step_{entry.step}" / path

    def _intact(self, path: str, entry: _Kept) -> bool:
        """Whether the kept copy of ``entry`` is there, as it was kept."""
        try:
            stat = self._kept(path, entry).lstat()
        except OSError:
            return False
        return (
            bool(entry.sha256)
            and S_ISREG(stat.st_mode)
            and (stat.st_mtime_ns, stat.st_size) == entry.signature
        )

    def _keep(self, path: str, step: int) -> _Kept | None:
        source = self.root / path
        try:
            stat = source.lstat()
            if not S_ISREG(stat.st_mode):
                return None
            target = self._kept(path, _Kept(step, 0, 0))
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()  # never write through an older hard link to the file itself
            if stat.st_size > _COPY_LIMIT:
                os.link(source, target)
                return _Kept(step, stat.st_mtime_ns, stat.st_size, "linked")
            shutil.copy2(source, target, follow_symlinks=False)
            return _Kept(step, stat.st_mtime_ns, stat.st_size, _sha256(target))
        except OSError:
            return None

    def guard(self, step: int, before: dict[str, tuple[int, int]], own: str) -> dict[str, _Kept]:
        """Keep a current copy of each file made before ``step`` (``own`` is the script);
        return those files: the script about to run must leave them as they are."""
        index = self._load()
        known: dict[str, _Kept] = {}
        guarded: dict[str, _Kept] = {}
        for path, signature in before.items():
            entry = index.get(path) or _Kept(0, *signature)
            if path == own:
                entry = _Kept(step, *signature)
            elif entry.step < step:
                if entry.signature != signature or not self._intact(path, entry):
                    entry = self._keep(path, entry.step) or _Kept(entry.step, *signature)
                if entry.sha256:
                    guarded[path] = entry
            known[path] = entry
        self._save(known)
        return guarded

    def _restore(self, path: str, entry: _Kept) -> bool:
        kept, target = self._kept(path, entry), self.root / path
        if not self._intact(path, entry):
            return False
        try:
            if entry.sha256 != "linked" and _sha256(kept) != entry.sha256:
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.restored")
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            if entry.sha256 == "linked":
                os.link(kept, temp)
            else:
                shutil.copy2(kept, temp)
            os.replace(temp, target)
        except OSError:
            return False
        return True

    def check(self, guarded: dict[str, _Kept]) -> list[str]:
        """Put back what the script deleted (and, with ``restore_changed``, changed) of the
        ``guarded`` files; one note for each file it touched."""
        notes: list[str] = []
        for path, entry in sorted(guarded.items()):
            target = self.root / path
            try:
                stat = target.lstat()
                present = S_ISREG(stat.st_mode)
            except OSError:
                present = False
            if present and (stat.st_mtime_ns, stat.st_size) == entry.signature:
                continue
            if present and entry.sha256 != "linked" and _digest_or_none(target) == entry.sha256:
                continue  # written again with the same bytes
            made = f"made by step {entry.step}" if entry.step else "there before this step"
            what = "changed" if present else "deleted"
            kept = self._kept(path, entry).relative_to(self.root).as_posix()
            if not present or self.restore_changed or entry.step == 0:
                if self._restore(path, entry):
                    notes.append(
                        f"[plancontrol] restored {path} ({made}), which this script {what}: "
                        "leave earlier steps' files as they are and write new ones"
                    )
                else:
                    notes.append(
                        f"[plancontrol] this script {what} {path} ({made}) and it could not "
                        "be restored: its kept copy is gone or was changed too"
                    )
            elif self._intact(path, entry):
                notes.append(
                    f"[plancontrol] this script changed {path} ({made}); "
                    f"the earlier version is kept in {kept}"
                )
            else:
                notes.append(
                    f"[plancontrol] this script changed {path} ({made}) in place; "
                    f"it is too large ({_size(entry.size)}) for a copy to be kept"
                )
        return notes

    def record(self, step: int, after: dict[str, tuple[int, int]]) -> None:
        """Note the files ``step``'s script made or changed as its own."""
        index = self._load()
        self._save(
            {
                path: entry if entry and entry.signature == signature else _Kept(step, *signature)
                for path, signature in after.items()
                for entry in (index.get(path),)
            }
        )


def _digest_or_none(path: Path) -> str | None:
    try:
        return _sha256(path)
    except OSError:
        return None


def _put_back(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` again if a script removed or changed it."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            if file.read() == text:
                return
    except (OSError, UnicodeDecodeError):
        pass
    with contextlib.suppress(OSError):
        write_atomic(path, text)


# Landlock (Linux >= 5.13, unprivileged): the write rights a ruleset handles; a rule gives
# them back beneath the work folder only.
_LL_WRITE_FILE = 1 << 1
_LL_TRUNCATE = 1 << 14
_LL_REFER = 1 << 13
_LL_ABI1 = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))
"""Write a file, remove a file or folder, make a file, folder, link, fifo, socket or device."""
_LL_SCOPE_SIGNAL = 1 << 1
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
_DEVICE_DIRS = ("/dev/pts",)
_SHARED_MEMORY = "/dev/shm"


@functools.cache
def _landlock_abi() -> int:
    """The Landlock ABI version the kernel offers (0: none), asked once per process."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    except (OSError, AttributeError):  # pragma: no cover - no libc or no syscall()
        return 0
    return max(version, 0)


_CONFINE_FAILED = 125
_CONFINE_ERROR = "plancontrol: cannot confine the script"
_LAUNCHER = (
    f"MESSAGE = {_CONFINE_ERROR!r}\nFAILED = {_CONFINE_FAILED}\n"
    + r"""
import os, sys

def landlock(cfg):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.syscall
    call.restype = ctypes.c_long

    def ok(result):
        if result < 0:
            number = ctypes.get_errno()
            raise OSError(number, "Landlock: " + os.strerror(number))
        return result

    class Ruleset(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class Beneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

    ruleset = Ruleset(cfg["handled"], 0, cfg["scoped"])
    fd = ok(call(444, ctypes.byref(ruleset), ctypes.c_size_t(cfg["size"]), ctypes.c_uint32(0)))
    for path, allowed in cfg["rules"]:
        try:
            target = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            ok(call(445, fd, 1, ctypes.byref(Beneath(allowed, target)), ctypes.c_uint32(0)))
        finally:
            os.close(target)
    ok(libc.prctl(38, 1, 0, 0, 0))  # PR_SET_NO_NEW_PRIVS
    ok(call(446, fd, ctypes.c_uint32(0)))
    os.close(fd)

def main():
    import json, resource
    cfg = json.loads(sys.argv[1])
    for name, value in cfg["limits"]:
        which = getattr(resource, name)
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY and value > hard:
            value = hard
        resource.setrlimit(which, (value, value))
    if cfg["landlock"]:
        landlock(cfg["landlock"])
    os.execv(cfg["python"], [cfg["python"]] + sys.argv[2:])

try:
    main()
except BaseException as exc:
    sys.stderr.write("%s: %s: %s\n" % (MESSAGE, type(exc).__name__, exc))
    sys.stderr.flush()
    os._exit(FAILED)
"""
)
"""Run by the script's python before the script: sets the limits, restricts writes with
Landlock, then becomes the script (``execv``, same process), so nothing of it is left."""


class _Ran(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str
    stopped: Literal["time", "output"] | None


def attempt_files(script: Script) -> tuple[str, str]:
    """Where an attempt is kept in the work folder: its code, and how it ended.

    >>> attempt_files(Script(step=1, attempt=2, filename="codebase/step_1.py", code=""))
    ('codebase/step_1_attempt_2.py', 'codebase/step_1_attempt_2.out.txt')
    """
    path = PurePosixPath(script.filename)
    stem = path.with_name(f"{path.stem}_attempt_{script.attempt}").as_posix()
    return f"{stem}{path.suffix or '.py'}", f"{stem}.out.txt"


def _ending(run: Execution) -> str:
    """How an attempt ended, as its ``.out.txt`` keeps it."""
    return (
        f"exit code: {run.exit_code}\n"
        f"timed out: {'yes' if run.timed_out else 'no'}\n"
        f"\n--- stdout ---\n{run.stdout}"
        f"{'' if run.stdout.endswith(chr(10)) or not run.stdout else chr(10)}"
        f"--- stderr ---\n{run.stderr}"
    )


_DESCRIBE = """\
import sys
from importlib import metadata
names = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        names.setdefault(name.lower(), "%s==%s" % (name, dist.version))
print("Python %d.%d.%d" % sys.version_info[:3])
print("\\n".join(names[k] for k in sorted(names)))
"""


def python_path(python: str) -> str:
    """Where the interpreter named ``python`` is, as an absolute path (scripts run in the
    work folder, where a relative path would lead elsewhere): a bare name is looked up on
    PATH, a relative path taken from the current folder; one not found is left as given.

    >>> python_path("/usr/bin/python3"), python_path("no-such-python-here")
    ('/usr/bin/python3', 'no-such-python-here')
    """
    if not python or os.path.isabs(python):
        return python
    if "/" not in python:
        return shutil.which(python) or python
    return os.path.abspath(python)


def describe_python(
    python: str, env: Mapping[str, str] | None = None, limit: int = 1500
) -> Result[str, str]:
    """What the scripts' interpreter is, for the code roles' prompt: its version and the
    packages it has (``name==version``, at most ``limit`` characters of them), asked once
    with a subprocess; or a one-line reason it cannot run.

    >>> describe_python(sys.executable).unwrap().startswith(f"Python {sys.version_info[0]}.")
    True
    >>> print(describe_python("/no/such/python").failure())
    cannot run '/no/such/python' (No such file or directory); give the path of a Python interpreter
    """
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run(
                [python, "-c", _DESCRIBE],
                cwd=cwd,
                env=without_secrets(os.environ if env is None else env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=60,
                check=False,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Failure(f"cannot run {python!r} ({reason}); give the path of a Python interpreter")
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or not lines[0].startswith("Python "):
        said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return Failure(f"{python!r} is not a working Python interpreter ({said})")
    shown: list[str] = []
    size = 0
    for package in lines[1:]:
        if size + len(package) + 2 > limit:
            break
        shown.append(package)
        size += len(package) + 2
    more = len(lines) - 1 - len(shown)
    listed = ", ".join(shown) + (f" and {more} more" if more else "")
    return Success(f"{lines[0]}, with these packages: {listed or 'none'}")


def _noted(notes: list[str], text: str) -> str:
    """``notes`` first, one per line, so that a reader who sees only the head sees them."""
    return "".join(f"{note}\n" for note in notes) + text


class SubprocessExecutor:
    """Runs scripts with ``python`` in ``work_dir``, each in its own process group (POSIX).

    Runaway code is stopped or contained, and each case is noted at the top of the
    execution's stderr (lines starting ``[plancontrol]``) for the judge, the engineer and
    the user:

    - time: after ``timeout`` seconds the whole group is killed (``timed_out``); when a
      script ends, any process it left behind in its group is killed too;
    - output: beyond ``output_limit`` characters per stream only the head and tail are
      kept (the pipes are drained on, so memory stays bounded); a script that writes more
      than ``output_cap`` bytes in all is killed;
    - memory: each process of a script may use at most ``memory_limit`` bytes of data
      (``RLIMIT_DATA``: heap and private mappings; Python raises MemoryError beyond it).
      The limit is per process, not for the script and its children together;
    - files: no file may grow beyond ``file_size_limit`` bytes (``RLIMIT_FSIZE``: Python
      raises ``OSError: File too large``); no core dumps are written;
    - writes outside the work folder (``confine_writes``): HOME, TMPDIR and the XDG folders
      point into ``work_dir/.plancontrol/`` (its temp is emptied after each run; packages
      installed with ``pip --user`` stay importable), and where the kernel offers Landlock
      (Linux >= 5.19, no privileges needed) writing, removing or renaming anything outside
      the work folder, ``/dev/shm``, the standard devices and ``writable`` is refused
      (PermissionError; before Linux 6.2, truncating a file by its path is not), and the
      script may not signal processes outside its own (Linux >= 6.12). Without Landlock
      such writes are neither refused nor detected; ``confinement`` says which applies.
      Reading and the network are not restricted;
    - earlier steps' files (``protect_files``): each is kept under
      ``work_dir/.plancontrol/kept/`` before a script runs; one the script deletes is put
      back, and so is one it changes that no script made (inputs, reports, the run's
      records); a changed file of an earlier step's script stays changed, its earlier
      version kept (``restore_changed=True`` puts it back instead). Files above 64 MiB are
      kept as hard links, which guard against deletion only;
    - credentials: scripts and pip run without the variables that may hold one
      (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``…, see ``secrets.without_secrets``) but
      those named in ``pass_env``.

    Each attempt is kept beside the script it ran as (``attempt_files``): the code as
    ``codebase/step_1_attempt_2.py`` and how it ended (exit code, stdout, stderr) as
    ``codebase/step_1_attempt_2.out.txt``, both passed through ``scrub``; they are not
    among the files an execution lists.

    Limits are applied by a small launcher that the script's python runs first and that
    then becomes the script (``execv``): the script's process, arguments and tracebacks are
    as without it. By default a script may write 64 MiB of output, use 4 GiB of memory in
    each process and write files of up to 1 GiB; None turns a limit off.

    ``install`` runs pip only when ``allow_install`` is True, with the timeout and the
    output cap but none of the rest (pip must write into the environment).
    """

    def __init__(
        self,
        work_dir: Path | str,
        *,
        timeout: float = 600.0,
        output_limit: int = 20_000,
        output_cap: int | None = 64 * _MiB,
        memory_limit: int | None = 4 * _GiB,
        file_size_limit: int | None = 1 * _GiB,
        confine_writes: bool = True,
        writable: Sequence[Path | str] = (),
        protect_files: bool = True,
        restore_changed: bool = False,
        python: str = sys.executable,
        allow_install: bool = False,
        env: Mapping[str, str] | None = None,
        pass_env: Sequence[str] = (),
        scrub: Callable[[str], str] = str,
    ) -> None:
        if timeout <= 0 or output_limit < 0:
            raise ValueError(
                f"need timeout > 0 and output_limit >= 0, got {timeout}, {output_limit}"
            )
        for name, limit in (
            ("output_cap", output_cap),
            ("memory_limit", memory_limit),
            ("file_size_limit", file_size_limit),
        ):
            if limit is not None and limit <= 0:
                raise ValueError(f"need {name} > 0 (or None for no limit), got {limit}")
        self.work_dir = Path(work_dir)
        self.timeout = timeout
        self.output_limit = output_limit
        self.output_cap = output_cap
        self.memory_limit = memory_limit
        self.file_size_limit = file_size_limit
        self.confine_writes = confine_writes
        self.writable = tuple(Path(p) for p in writable)
        self.protect_files = protect_files
        self.restore_changed = restore_changed
        self.python = python
        self.allow_install = allow_install
        self.pass_env = tuple(pass_env)
        self.scrub = scrub
        self.env = without_secrets(os.environ if env is None else env, self.pass_env)
        self.env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")

    @property
    def confinement(self) -> str:
        """How writes outside the work folder are handled here, in one sentence."""
        abi = _landlock_abi()
        if not self.confine_writes:
            return "writes outside the work folder are allowed (confine_writes=False)"
        if abi < 2:
            return (
                "writes outside the work folder are neither refused nor detected: this "
                "system offers no Landlock (Linux >= 5.19); HOME and TMPDIR point inside it"
            )
        return f"writes outside the work folder are refused (Landlock ABI {abi})"

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        """Save ``script.code`` as ``script.filename`` in the work folder, run it there, and
        list the files the run created or changed."""
        filename = inside(self.work_dir, script.filename)
        try:
            write_atomic(self.work_dir / filename, script.code)
        except OSError as exc:
            detail = f"cannot save {filename} in {self.work_dir} ({exc}); check the folder"
            return Failure(ExecutionFailure(step=script.step, detail=detail))
        before = _snapshot(self.work_dir)
        keeper = _Keeper(self.work_dir, self.restore_changed) if self.protect_files else None
        guarded = keeper.guard(script.step, before, filename) if keeper else {}
        match self._execute(script.step, self._launch(filename), self._script_env()):
            case Failure(failed):
                self._keep_attempt(script, f"could not run: {failed.detail}\n")
                return Failure(failed)
            case Success(ran):
                pass
        if ran.exit_code == _CONFINE_FAILED and _CONFINE_ERROR in ran.stderr:
            detail = ran.stderr.strip().splitlines()[-1]
            detail = f"{detail}; run with confine_writes=False or without the limits"
            self._keep_attempt(script, f"could not run: {detail}\n")
            return Failure(ExecutionFailure(step=script.step, detail=detail))
        notes = self._stop_notes(ran, confined=True) + (keeper.check(guarded) if keeper else [])
        _put_back(self.work_dir / filename, script.code)  # the outcome lists it: keep it there
        # Python prints the script's absolute path in tracebacks: make it relative, so the
        # model, the journal and the cassettes never see where the run folder lives.
        root = f"{self.work_dir.resolve()}/"
        done = Execution(
            exit_code=ran.exit_code,
            stdout=ran.stdout.replace(root, ""),
            stderr=_noted(notes, ran.stderr).replace(root, ""),
            timed_out=ran.stopped == "time",
        )
        records = self._keep_attempt(script, _ending(done))
        after = _snapshot(self.work_dir)
        if keeper:
            keeper.record(script.step, after)
        shutil.rmtree(self.work_dir / _HIDDEN / "tmp", ignore_errors=True)
        own = (filename, *records)
        changed = (p for p, sig in after.items() if p not in own and before.get(p) != sig)
        return Success(msgspec.structs.replace(done, files=tuple(sorted(changed))))

    def _keep_attempt(self, script: Script, ending: str) -> tuple[str, ...]:
        """Save the attempt's code and how it ended beside its script; their paths."""
        code, output = attempt_files(script)
        try:
            write_atomic(self.work_dir / inside(self.work_dir, code), self.scrub(script.code))
            write_atomic(self.work_dir / inside(self.work_dir, output), self.scrub(ending))
        except (OSError, ValueError):  # a record lost is no reason to lose the attempt
            return ()
        return (code, output)

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
        argv = [self.python, "-m", "pip", "install", *packages]  # self.env: no credentials
        return self._execute(step, argv, self.env).map(
            lambda ran: Execution(
                exit_code=ran.exit_code,
                stdout=ran.stdout,
                stderr=_noted(self._stop_notes(ran, confined=False), ran.stderr),
                timed_out=ran.stopped == "time",
            )
        )

    def _script_env(self) -> dict[str, str]:
        """The scripts' environment: with ``confine_writes``, home and temp in the folder."""
        env = dict(self.env)
        if not self.confine_writes:
            return env
        hidden = self.work_dir.resolve() / _HIDDEN
        home, temp = hidden / "home", hidden / "tmp"
        for folder in (home, temp):
            folder.mkdir(parents=True, exist_ok=True)
        if "HOME" in env and "PYTHONUSERBASE" not in env:
            env["PYTHONUSERBASE"] = str(Path(env["HOME"], ".local"))  # keep --user installs
        env.update(
            HOME=str(home),
            TMPDIR=str(temp),
            TMP=str(temp),
            TEMP=str(temp),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
        )
        return env

    def _landlock(self) -> dict[str, object] | None:
        """The launcher's Landlock ruleset: write rights beneath the work folder only."""
        abi = _landlock_abi()
        if not self.confine_writes or abi < 2:
            return None
        handled = _LL_ABI1 | _LL_REFER | (_LL_TRUNCATE if abi >= 3 else 0)
        on_files = handled & (_LL_WRITE_FILE | _LL_TRUNCATE)
        rules: list[tuple[str, int]] = [
            (str(self.work_dir.resolve()), handled),
            (_SHARED_MEMORY, handled),
            *((path, on_files) for path in (*_DEVICES, *_DEVICE_DIRS)),
        ]
        for extra in self.writable:
            path = extra.resolve()
            rules.append((str(path), handled if path.is_dir() else on_files))
        return {
            "handled": handled,
            "scoped": _LL_SCOPE_SIGNAL if abi >= 6 else 0,  # no signals to processes outside
            "size": 24 if abi >= 6 else 16 if abi >= 4 else 8,
            "rules": rules,
        }

    def _launch(self, filename: str) -> list[str]:
        limits = [
            (name, value)
            for name, value in (
                ("RLIMIT_DATA", self.memory_limit),
                ("RLIMIT_FSIZE", self.file_size_limit),
                ("RLIMIT_CORE", 0),
            )
            if value is not None
        ]
        landlock = self._landlock()
        if not limits and landlock is None:  # pragma: no cover - RLIMIT_CORE is always set
            return [self.python, filename]
        config = {"python": self.python, "limits": limits, "landlock": landlock}
        return [self.python, "-I", "-S", "-c", _LAUNCHER, json.dumps(config), filename]

    def _stop_notes(self, ran: _Ran, confined: bool) -> list[str]:
        """What stopped or hindered the run, in words (empty when nothing did)."""
        notes: list[str] = []
        if ran.stopped == "time":
            notes.append(f"[plancontrol] stopped: still running after {self.timeout:g} s")
        elif ran.stopped == "output" and self.output_cap is not None:
            notes.append(
                f"[plancontrol] stopped: wrote more than {_size(self.output_cap)} of output"
            )
        elif ran.exit_code < 0:
            try:
                name = signal.Signals(-ran.exit_code).name
            except ValueError:
                name = str(-ran.exit_code)
            note = f"[plancontrol] killed by signal {name}"
            if confined and self.memory_limit is not None and name in _MEMORY_SIGNALS:
                note += f", perhaps out of memory (a process may use {_size(self.memory_limit)})"
            notes.append(note)
        if not confined:
            return notes
        if self.memory_limit is not None and "MemoryError" in ran.stderr:
            notes.append(
                f"[plancontrol] out of memory: a process may use at most "
                f"{_size(self.memory_limit)} (memory_limit)"
            )
        if self.file_size_limit is not None and (
            "File too large" in ran.stderr or ran.exit_code == -signal.SIGXFSZ
        ):
            notes.append(
                f"[plancontrol] a file reached the size limit of {_size(self.file_size_limit)} "
                "(file_size_limit)"
            )
        if self._landlock() is not None and "Permission denied" in ran.stderr:
            notes.append(
                "[plancontrol] scripts may write only inside the work folder: "
                "save files in the current folder"
            )
        return notes

    def _execute(
        self, step: int, argv: list[str], env: Mapping[str, str]
    ) -> Result[_Ran, ExecutionFailure]:
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            proc = subprocess.Popen(
                argv,
                cwd=self.work_dir,
                env=env,
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
                stdout, stderr, stopped = self._collect(proc)
            except BaseException:
                _kill_group(proc.pid)
                raise
        return Success(_Ran(proc.returncode, stdout, stderr, stopped))

    def _collect(
        self, proc: subprocess.Popen[bytes]
    ) -> tuple[str, str, Literal["time", "output"] | None]:
        """Read both pipes until the process ends, time is up or it wrote more than
        ``output_cap`` bytes; then kill its group and drain."""
        assert proc.stdout is not None
        assert proc.stderr is not None
        out, err = proc.stdout.fileno(), proc.stderr.fileno()
        captures = {out: _Capture(self.output_limit), err: _Capture(self.output_limit)}
        cap = self.output_cap
        stopped: Literal["time", "output"] | None = None
        deadline = time.monotonic() + self.timeout
        with selectors.DefaultSelector() as selector:
            for fd in captures:
                selector.register(fd, selectors.EVENT_READ)
            while not _exited(proc.pid):
                if (left := deadline - time.monotonic()) <= 0:
                    stopped = "time"
                    break
                _pump(selector, captures, min(left, _POLL_SECONDS))
                if cap is not None and captures[out].size + captures[err].size > cap:
                    stopped = "output"
                    break
            _kill_group(proc.pid)  # when stopped, and whatever a finished script left running
            # drain, but not forever: a process that left the group may hold the pipes open
            deadline = time.monotonic() + _DRAIN_SECONDS
            while selector.get_map() and (left := deadline - time.monotonic()) > 0:
                _pump(selector, captures, left)
        return captures[out].text(), captures[err].text(), stopped


_MEMORY_SIGNALS = ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGKILL")
"""How a process that ran out of memory outside Python's allocator may end."""


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

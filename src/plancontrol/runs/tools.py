"""The agents' tools, recorded: each call journaled as it returns, served from it on replay."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from plancontrol.runs.entries import Tooled
from plancontrol.runs.journal import JournalReplay

__all__ = ["JournalTools", "RecordedToolFailure", "RecordingTools", "ServedTools"]

Tool = Callable[..., Any]


class RecordedToolFailure(Exception):
    """Raised on replay where the tool raised when recorded (its message as recorded), or
    where the journal does not hold the call next (the replay's divergence)."""


def _plain(value: Any) -> Any:
    """``value`` as the journal reads it back: plain JSON data, or its ``str`` when it has none.

    >>> _plain((1, "a")), _plain(Path)
    ([1, 'a'], "<class 'pathlib.Path'>")
    """
    try:
        return msgspec.json.decode(msgspec.json.encode(value))
    except TypeError:
        return str(value)


def _arguments(fn: Tool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by parameter name, as plain data.

    >>> def area(width: int, height: int = 2) -> int: return width * height
    >>> _arguments(area, (3,), {"height": 4})
    {'width': 3, 'height': 4}
    """
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs).arguments
    except TypeError:
        bound = {**{str(i): a for i, a in enumerate(args)}, **kwargs}
    plain: dict[str, Any] = _plain(dict(bound))
    return plain


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


Answer = Callable[[tuple[Any, ...], dict[str, Any], Callable[[], Any]], Any]


def _wrapped(fn: Tool, call: Answer) -> Tool:
    """``fn`` wrapped so that ``call(args, kwargs, run)`` answers it (``run`` calls ``fn``);
    the wrapper keeps ``fn``'s name, docstring and signature (ag2 reads its schema from them),
    and is async when ``fn`` is."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def waited(*args: Any, **kwargs: Any) -> Any:
            result = call(args, kwargs, lambda: fn(*args, **kwargs))
            return await result if inspect.isawaitable(result) else result

        return waited

    @functools.wraps(fn)
    def called(*args: Any, **kwargs: Any) -> Any:
        return call(args, kwargs, lambda: fn(*args, **kwargs))

    return called


class RecordingTools:
    """Wraps each tool of a turn (``role`` at plan ``step``) so that each call runs it and
    ``sink`` is given a ``Tooled`` entry with what it returned or raised."""

    def __init__(self, sink: Callable[[Tooled], None]) -> None:
        self.sink = sink

    def __call__(self, role: str, step: int, fn: Tool) -> Tool:
        name = fn.__name__

        def call(args: tuple[Any, ...], kwargs: dict[str, Any], run: Callable[[], Any]) -> Any:
            arguments = _arguments(fn, args, kwargs)
            if inspect.iscoroutinefunction(fn):
                return self._awaited(role, step, name, arguments, run)
            try:
                result = run()
            except Exception as exc:
                self.sink(Tooled(role, step, name, arguments, failure=_failure(exc)))
                raise
            self.sink(Tooled(role, step, name, arguments, _plain(result)))
            return result

        return _wrapped(fn, call)

    async def _awaited(
        self, role: str, step: int, name: str, arguments: dict[str, Any], run: Callable[[], Any]
    ) -> Any:
        try:
            result = await run()
        except Exception as exc:
            self.sink(Tooled(role, step, name, arguments, failure=_failure(exc)))
            raise
        self.sink(Tooled(role, step, name, arguments, _plain(result)))
        return result


class ServedTools:
    """Wraps each tool so that a call is answered from ``journal`` and the tool is never
    called: its recorded result, or its recorded failure raised again. A call the journal
    does not hold next raises too, and the journal notes the divergence (the replay then
    stops with ``ReplayDiverged``)."""

    def __init__(self, journal: JournalReplay) -> None:
        self.journal = journal

    def __call__(self, role: str, step: int, fn: Tool) -> Tool:
        name = fn.__name__

        def call(args: tuple[Any, ...], kwargs: dict[str, Any], run: Callable[[], Any]) -> Any:
            entry = self.journal.tool(role, step, name, _arguments(fn, args, kwargs))
            if entry is None:
                assert self.journal.diverged is not None
                raise RecordedToolFailure(self.journal.diverged.message)
            if entry.failure:
                raise RecordedToolFailure(entry.failure)
            return entry.result

        return _wrapped(fn, call)


class JournalTools:
    """A sink for ``RecordingTools``: appends each entry to the journal file at ``path``
    (opened, appended, closed: the session's own writer appends to the same file, each line
    whole), scrubbed by ``scrub``. Tools may run in several threads at once."""

    def __init__(self, path: Path, scrub: Callable[[bytes], bytes] = bytes) -> None:
        self.path = path
        self.scrub = scrub
        self._lock = threading.Lock()

    def __call__(self, entry: Tooled) -> None:
        line = self.scrub(msgspec.json.encode(entry)) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as journal:
                journal.write(line)

"""Model traffic recorded to, and replayed from, one vcrpy cassette per phase or plan step."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec
from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.errors import ModelFailure
from plancontrol.core.events import Event, PhaseChange
from plancontrol.core.ports import Agents, Reply, Request
from plancontrol.recording.message_store import (
    DamagedCassette,
    ReadableJSON,
    TablePersister,
    _parsed,
)
from plancontrol.runs.snapshots import first_difference

__all__ = ["CassetteAgents", "ReadableJSON", "cassette_name"]

_KEPT_HEADERS = ("content-type",)


class _Failed(msgspec.Struct, frozen=True, kw_only=True):
    """A model call that failed, kept in its cassette's metadata (``"failures"``): after how
    many of the cassette's interactions, who asked, the failure's detail, and the body of the
    last request sent (None when none was). A timeout or a dropped connection leaves no
    response to record; this lets a replay end the same way."""

    after: int
    role: str
    step: int
    detail: str
    request: Any = None


_FAILURES = "failures"


def cassette_name(request: Request, phase: str = "planning") -> str:
    """``step-03.json`` for plan step 3; else the name of the phase that asks, ``review.json``.

    >>> from plancontrol.core.ports import Request
    >>> cassette_name(Request(role="judge", model="m", phase="control", step=3, attempt=1,
    ...                       system="", messages=()), "control")
    'step-03.json'
    """
    return f"{phase}.json" if request.step == 0 else f"step-{request.step:02d}.json"


def _unreadable(path: Path) -> str | None:
    """Why the cassette at ``path`` cannot be replayed, or None when it can."""
    from vcr.serialize import deserialize

    if not path.is_file():
        return f"{path} is missing; restore it from a copy of the run folder or record again"
    try:
        text = path.read_text(encoding="utf-8")
        requests, responses, *metadata = deserialize(text, TablePersister.bound(path))
        if metadata:
            msgspec.convert(metadata[0].get(_FAILURES, []), list[_Failed])
        for request in requests:
            if not isinstance(request.body, bytes | str | None):
                raise ValueError("a request body that is not text")
        for response in responses:
            if not (
                isinstance(response["status"], dict)
                and isinstance(response["headers"], dict)
                and isinstance(response["body"]["string"], bytes | str)
            ):
                raise ValueError("a response without a status, headers or a body")
    except DamagedCassette as exc:
        return str(exc)
    except Exception as exc:  # whatever vcrpy raises on a damaged file
        return f"{path} is damaged ({type(exc).__name__}: {exc}); restore it from a copy"
    return None


def _keep_content_type(headers: Any) -> None:
    """Keep no header but the content type: keys, hosts and client versions stay out."""
    for name in list(headers):
        if name.lower() not in _KEPT_HEADERS:
            del headers[name]


class CassetteAgents:
    """Wraps an Agents handler so that each phase's or step's HTTP traffic goes to its own
    cassette in ``folder``: recorded (``mode="record"``) or played back with no network
    (``mode="replay"``: a request the cassette does not hold fails, it is never sent; with
    ``lenient``, as ``plancontrol check`` uses it, the mismatch is noted in ``drift`` and the
    reply recorded for the request in its place is served, so that later steps are checked).

    Requests match on method, path and JSON body (never on host or headers: the embedded
    server's port changes from run to run). It is also an event sink: give it the run's
    events (``FanOut``) so that it knows which phase is asking.
    """

    def __init__(
        self,
        inner: Agents,
        folder: Path,
        mode: Literal["record", "replay"],
        scrub: Callable[[bytes], bytes] = bytes,
        lenient: bool = False,
    ) -> None:
        import vcr

        self.inner = inner
        self.folder = folder
        self.mode = mode
        self.scrub = scrub
        self.lenient = lenient
        self._vcr = vcr.VCR(
            match_on=["method", "path", "body"],
            before_record_request=self._clean_request,
            before_record_response=self._clean_response,
            decode_compressed_response=True,
            filter_query_parameters=["key", "api_key", "api-key"],
            serializer="plancontrol-json",
        )
        self._vcr.register_serializer("plancontrol-json", ReadableJSON)
        self._vcr.register_persister(TablePersister())
        self._open: tuple[str, contextlib.ExitStack] | None = None
        self._live: Any = None  # the request being matched, on replay
        self.cassettes: list[Any] = []
        self.opened: list[str] = []
        self.drift: list[tuple[str, str]] = []
        self.problem: str | None = None
        self.phase = "planning"
        self._refused = 0  # requests the open cassette could not answer, on replay
        self._failures: list[_Failed] = []  # the open cassette's recorded failures, on replay
        self._failures_played = 0

    def _clean_request(self, request: Any) -> Any:
        _keep_content_type(request.headers)
        if request.body:
            body = request.body if isinstance(request.body, bytes) else request.body.encode()
            request.body = self.scrub(body)
        self._live = request
        return request

    def _clean_response(self, response: dict[str, Any]) -> dict[str, Any]:
        _keep_content_type(response.get("headers", {}))
        body = response.get("body", {})
        if isinstance(body.get("string"), bytes):
            body["string"] = self.scrub(body["string"])
        return response

    def emit(self, event: Event) -> None:
        """Note the phase that begins: its requests go to its own cassette."""
        if isinstance(event, PhaseChange):
            self.phase = event.phase

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        name = cassette_name(request, self.phase)
        if self.mode == "replay" and (self._open is None or self._open[0] != name):
            self.problem = self.problem or _unreadable(self.folder / name)
        if self.problem is not None:
            return Failure(ModelFailure(role=request.role, step=request.step, detail=self.problem))
        self._switch(name)
        self._live = None
        cassette = self.cassettes[-1]
        played, refused = cassette.play_count, self._refused
        result = self.inner.ask(request)
        if isinstance(result, Failure) and self.mode == "record":
            self._note_failure(cassette, request, result.failure())
        if self.mode == "replay" and isinstance(result, Failure):
            due = self._recorded_failure(cassette, request)
            if self._refused == refused and cassette.play_count > played:
                return result  # the recorded responses failed it again: an error, a bad body
            if due is not None:  # no response was recorded (a timeout, a dropped line)
                return Failure(replace(result.failure(), detail=due.detail))
            where = self._mismatch(name)
            self.drift.append((name, where))
            if self.lenient:
                recorded = self._play_next(request)
                if recorded is not None:
                    return Success(recorded)
            detail = f"{request.role}'s request {where}; re-record with `plancontrol run`"
            return Failure(replace(result.failure(), detail=detail))
        return result

    def _note_failure(self, cassette: Any, request: Request, failure: ModelFailure) -> None:
        """Keep a failed call in the cassette's metadata, to be served again on replay."""
        sent = None if self._live is None else _parsed(self._live.body)
        detail = self.scrub(failure.detail.encode()).decode("utf-8", errors="replace")
        failed = _Failed(
            after=len(cassette.data),
            role=request.role,
            step=request.step,
            detail=detail,
            request=sent,
        )
        cassette.get_metadata(_FAILURES, []).append(msgspec.to_builtins(failed))
        cassette.dirty = True  # saved even when no interaction was: nothing came back

    def _recorded_failure(self, cassette: Any, request: Request) -> _Failed | None:
        """The failure recorded at this point of the cassette for this request, marked played,
        or None when the recording has none here."""
        if self._failures_played >= len(self._failures):
            return None
        due = self._failures[self._failures_played]
        sent = None if self._live is None else _parsed(self._live.body)
        if (due.after, due.role, due.step, due.request) != (
            cassette.play_count,
            request.role,
            request.step,
            sent,
        ):
            return None
        self._failures_played += 1
        return due

    def _play_next(self, request: Request) -> Reply | None:
        """The reply recorded for the next unplayed request, marked played (lenient mode)."""
        cassette = self.cassettes[-1]
        index = next((i for i in range(len(cassette.data)) if not cassette.play_counts[i]), None)
        if index is None:
            return None
        cassette.play_counts[index] += 1
        try:
            body = json.loads(cassette.data[index][1]["body"]["string"])
            usage = body.get("usage") or {}
            return Reply(
                text=body["choices"][0]["message"]["content"] or "",
                model=body.get("model") or request.model,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        except (KeyError, IndexError, TypeError, ValueError):
            return None

    def _mismatch(self, name: str) -> str:
        """Where the request just refused differs from the next one the cassette holds."""
        cassette = self.cassettes[-1]
        unplayed = [i for i in range(len(cassette.data)) if not cassette.play_counts[i]]
        if not unplayed:
            return f"is one more than {name} recorded ({len(cassette.data)})"
        recorded = cassette.data[unplayed[0]][0]
        if self._live is None:
            return f"number {unplayed[0] + 1} in {name} was not sent"
        try:
            old, new = json.loads(recorded.body), json.loads(self._live.body)
        except (TypeError, ValueError):
            return f"number {unplayed[0] + 1} in {name} differs from the recording"
        found = first_difference(old, new) or "differs in the bytes only"
        return f"number {unplayed[0] + 1} in {name} differs at {found}"

    def _switch(self, name: str) -> None:
        if self._open is not None and self._open[0] == name:
            return
        self.close()
        stack = contextlib.ExitStack()
        record_mode = "all" if self.mode == "record" else "none"
        cassette = stack.enter_context(
            self._vcr.use_cassette(str(self.folder / name), record_mode=record_mode)
        )
        self.cassettes.append(cassette)
        self.opened.append(name)
        self._open = (name, stack)
        if self.mode == "replay":
            self._watch_refusals(cassette)

    def _watch_refusals(self, cassette: Any) -> None:
        """Count the requests ``cassette`` cannot answer, and load its recorded failures."""
        from vcr.errors import MissingMetadataError

        answers = cassette.can_play_response_for

        def can_play(request: Any) -> bool:
            found = bool(answers(request))
            self._refused += not found
            return found

        cassette.can_play_response_for = can_play
        try:
            failures = cassette.get_metadata(_FAILURES, [])
        except MissingMetadataError:
            failures = []
        self._failures = msgspec.convert(failures, list[_Failed])  # checked by _unreadable
        self._failures_played = 0

    def flush(self) -> None:
        """Save what the open cassette has recorded so far (a snapshot follows)."""
        if self._open is not None and self.mode == "record":
            self.cassettes[-1]._save()

    def close(self) -> None:
        """Write (when recording) and close the open cassette."""
        if self._open is not None:
            self._open[1].close()
            self._open = None

    @property
    def unplayed(self) -> int:
        """Recorded interactions that a replay did not use."""
        return sum(len(c.data) - c.play_count for c in self.cassettes)

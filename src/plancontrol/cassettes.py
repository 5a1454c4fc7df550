"""Model traffic recorded to, and replayed from, one vcrpy cassette per phase or plan step."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from returns.result import Result

from plancontrol.effects import Agents, Reply, Request
from plancontrol.errors import ModelFailure

__all__ = ["CassetteAgents", "cassette_name"]

_KEPT_HEADERS = ("content-type",)


def cassette_name(request: Request) -> str:
    """``planning.yaml`` for planning, ``step-03.yaml`` for plan step 3.

    >>> from plancontrol.effects import Request
    >>> cassette_name(Request(role="judge", model="m", phase="control", step=3, attempt=1,
    ...                       system="", messages=()))
    'step-03.yaml'
    """
    return "planning.yaml" if request.step == 0 else f"step-{request.step:02d}.yaml"


def _keep_content_type(headers: Any) -> None:
    """Keep no header but the content type: keys, hosts and client versions stay out."""
    for name in list(headers):
        if name.lower() not in _KEPT_HEADERS:
            del headers[name]


class CassetteAgents:
    """Wraps an Agents handler so that each phase's or step's HTTP traffic goes to its own
    cassette in ``folder``: recorded (``mode="record"``) or played back with no network
    (``mode="replay"``: a request the cassette does not hold fails, it is never sent).

    Requests match on method, path and JSON body (never on host or headers: the embedded
    server's port changes from run to run).
    """

    def __init__(
        self,
        inner: Agents,
        folder: Path,
        mode: Literal["record", "replay"],
        scrub: Callable[[bytes], bytes] = bytes,
    ) -> None:
        import vcr

        self.inner = inner
        self.folder = folder
        self.mode = mode
        self.scrub = scrub
        self._vcr = vcr.VCR(
            match_on=["method", "path", "body"],
            before_record_request=self._clean_request,
            before_record_response=self._clean_response,
            decode_compressed_response=True,
            filter_query_parameters=["key", "api_key", "api-key"],
        )
        self._open: tuple[str, contextlib.ExitStack] | None = None
        self.cassettes: list[Any] = []

    def _clean_request(self, request: Any) -> Any:
        _keep_content_type(request.headers)
        if request.body:
            body = request.body if isinstance(request.body, bytes) else request.body.encode()
            request.body = self.scrub(body)
        return request

    def _clean_response(self, response: dict[str, Any]) -> dict[str, Any]:
        _keep_content_type(response.get("headers", {}))
        body = response.get("body", {})
        if isinstance(body.get("string"), bytes):
            body["string"] = self.scrub(body["string"])
        return response

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        self._switch(cassette_name(request))
        return self.inner.ask(request)

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
        self._open = (name, stack)

    def close(self) -> None:
        """Write (when recording) and close the open cassette."""
        if self._open is not None:
            self._open[1].close()
            self._open = None

    @property
    def unplayed(self) -> int:
        """Recorded interactions that a replay did not use."""
        return sum(len(c.data) - c.play_count for c in self.cassettes)

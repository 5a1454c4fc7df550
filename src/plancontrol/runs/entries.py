"""The journal's entries: each kind of nondeterministic input a run records, as data."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from plancontrol.core.ports import Decision, Execution

__all__ = [
    "Checked",
    "Decided",
    "Entry",
    "Installed",
    "Negotiated",
    "Ran",
    "Saved",
    "Ticked",
    "Tooled",
    "Wrote",
]


class Ran(msgspec.Struct, frozen=True, tag=True):
    """A script run: what was run, and how it ended (or why it could not run)."""

    step: int
    attempt: int
    filename: str
    result: Execution | None
    failure: str = ""


class Installed(msgspec.Struct, frozen=True, tag=True):
    """A package installation and how it ended."""

    step: int
    packages: tuple[str, ...]
    result: Execution | None
    failure: str = ""


class Ticked(msgspec.Struct, frozen=True, tag=True):
    """A clock reading."""

    value: float


class Decided(msgspec.Struct, frozen=True, tag=True):
    """An approval decision."""

    kind: str
    step: int
    decision: Decision


class Checked(msgspec.Struct, frozen=True, tag=True):
    """Whether the run was let go on at a safe point (False: cancelled there)."""

    step: int
    proceed: bool


class Saved(msgspec.Struct, frozen=True, tag=True):
    """A snapshot written: its label and the sha256 of its bytes, to catch later edits."""

    label: str
    sha256: str


class Negotiated(msgspec.Struct, frozen=True, tag=True):
    """The structured-output mode a server was found to accept for ``model``, by the
    session's first structured call (``plancontrol.recording.negotiation``); later sessions
    use it."""

    model: str
    mode: Literal["json_schema", "json_object", "prompt"]


class Tooled(msgspec.Struct, frozen=True, tag=True):
    """A tool call a model asked for during a turn: who asked (``role``, plan ``step``), the
    function's ``name``, the ``arguments`` it was called with, and what it returned (as
    plain data: ``msgspec.to_builtins``, else its ``str``) or the exception it raised."""

    role: str
    step: int
    name: str
    arguments: dict[str, Any]
    result: Any = None
    failure: str = ""


class Wrote(msgspec.Struct, frozen=True, tag=True):
    """A file the session left in the run folder (an export, or a file a step produced),
    by its path in the folder and the sha256 of its bytes: replay checks it is unchanged."""

    path: str
    sha256: str


Entry = Ran | Installed | Ticked | Decided | Checked | Saved | Negotiated | Tooled | Wrote

"""Shapes of the structured replies agents give (besides Plan and Review); no I/O."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from plancontrol.core.plan import Line, asked_chars, asked_items

__all__ = ["Code", "Install", "Verdict", "verdict_of"]

# Their bounds are asked of the model in the request schema and never checked when a reply
# or stored data is decoded (see ``plancontrol.core.plan.asked_chars``).

Packages = Annotated[tuple[Annotated[str, asked_chars(100)], ...], asked_items(10)]
"""Package names to install: a model is asked for at most 10, of at most 100 characters."""


class Code(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The engineer's script for one attempt at a step."""

    code: str
    explanation: Annotated[str, asked_chars(500)] = ""


class Verdict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The judge's reading of an execution: done, fix the code, or install packages first."""

    decision: Literal["success", "fix", "install"]
    reason: Line
    fix_suggestion: Annotated[str, asked_chars(500)] = ""
    packages: Packages = ()


class Install(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The installer's choice of packages to install before the next attempt."""

    packages: Packages


def verdict_of(text: str) -> Verdict | None:
    """The judge's verdict in a reply's text; None for a reply it was asked again for.

    >>> verdict_of('{"decision": "fix", "reason": "no file"}').reason
    'no file'
    """
    try:
        return msgspec.json.decode(text, type=Verdict)
    except (msgspec.MsgspecError, RecursionError, UnicodeError):
        return None

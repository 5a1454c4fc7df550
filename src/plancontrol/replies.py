"""Shapes of the structured replies agents give (besides Plan and Review); no I/O."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from plancontrol.plan import Line

__all__ = ["Code", "Install", "Verdict"]


class Code(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The engineer's script for one attempt at a step."""

    code: str
    explanation: Annotated[str, Meta(max_length=2000)] = ""


class Verdict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The judge's reading of an execution: done, fix the code, or install packages first."""

    decision: Literal["success", "fix", "install"]
    reason: Line
    fix_suggestion: Annotated[str, Meta(max_length=2000)] = ""
    packages: Annotated[tuple[Annotated[str, Meta(max_length=100)], ...], Meta(max_length=10)] = ()


class Install(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The installer's choice of packages to install before the next attempt."""

    packages: Annotated[tuple[Annotated[str, Meta(max_length=100)], ...], Meta(max_length=10)]

"""Shapes of the structured replies agents give (besides Plan and Review); no I/O."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Code", "Install", "Verdict"]


class Code(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The engineer's script for one attempt at a step."""

    code: str
    explanation: str = ""


class Verdict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The judge's reading of an execution: done, fix the code, or install packages first."""

    decision: Literal["success", "fix", "install"]
    reason: str
    fix_suggestion: str = ""
    packages: tuple[str, ...] = ()


class Install(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The installer's choice of packages to install before the next attempt."""

    packages: tuple[str, ...]

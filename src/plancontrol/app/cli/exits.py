"""How a command gives up: one line on stderr (under --json an error document too), exit code."""

from __future__ import annotations

import sys
from typing import TypeVar, cast

import typer
from returns.result import Result, Success

from plancontrol.core.problem import Problem

__all__ = ["fail", "or_fail"]

T = TypeVar("T")


def fail(message: str, code: int = 2, kind: str = "input") -> typer.Exit:
    """Say ``message`` on stderr (and, under --json, as an error document on stdout)."""
    from plancontrol.app.cli.output import emit, error_document, wants_json
    from plancontrol.app.cli.wording import as_flags

    message = as_flags(message)  # the library names its parameters; here, their flags
    sys.stderr.write(f"plancontrol: {message}\n")
    if wants_json():
        emit(error_document(kind, message))
    return typer.Exit(code)


def or_fail(result: Result[T, Problem]) -> T:
    """The value, or exit 2 with the problem's one line."""
    match result:
        case Success(value):
            return cast("T", value)
        case _:
            raise fail(result.failure().message)

"""Snapshots of the context: their bytes, read back, and compared with what a replay made."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from returns.result import Failure, Result

from plancontrol.core.context import Context, decode_context, encode_context
from plancontrol.core.problem import Problem

__all__ = [
    "SNAPSHOT_SCHEMA",
    "ComparingCheckpoints",
    "Verdict",
    "compare",
    "compare_snapshot",
    "decode_snapshot",
    "digest",
    "encode_snapshot",
    "first_difference",
    "recorded_context",
]

SNAPSHOT_SCHEMA = 1
"""Version of a snapshot file's schema, written in every snapshot."""


def digest(data: bytes) -> str:
    """The sha256 of ``data``, as journaled beside each snapshot."""
    return hashlib.sha256(data).hexdigest()


class _Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    schema: int
    label: str
    context: msgspec.Raw


def encode_snapshot(label: str, ctx: Context) -> bytes:
    """A snapshot file's bytes: the schema version, the label and the context.

    >>> encode_snapshot("plan", Context(task="t"))[:32]
    b'{"schema":1,"label":"plan","cont'
    """
    head = msgspec.json.encode({"schema": SNAPSHOT_SCHEMA, "label": label})
    return head[:-1] + b',"context":' + encode_context(ctx) + b"}"


def decode_snapshot(data: bytes) -> Result[tuple[str, Context], Problem]:
    """The label and context of a snapshot file's bytes, or what is wrong with them."""
    try:
        envelope = msgspec.json.decode(data, type=_Envelope)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        return Failure(Problem(what=f"not a plancontrol snapshot: {exc or type(exc).__name__}"))
    if envelope.schema != SNAPSHOT_SCHEMA:
        return Failure(
            Problem(
                what=f"snapshot schema {envelope.schema}",
                fix=f"this plancontrol reads schema {SNAPSHOT_SCHEMA}",
            )
        )
    return (
        decode_context(bytes(envelope.context))
        .map(lambda ctx: (envelope.label, ctx))
        .alt(lambda detail: Problem(what=detail))
    )


def first_difference(recorded: Any, replayed: Any, path: str = "$") -> str | None:
    """The JSON path where two decoded JSON values first differ, with both values.

    >>> first_difference({"a": [1, 2]}, {"a": [1, 3]})
    '$.a[1]: recorded 2, replayed 3'
    """
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in dict.fromkeys([*recorded, *replayed]):
            if key not in recorded or key not in replayed:
                return f"{path}.{key}: present in only one of them"
            found = first_difference(recorded[key], replayed[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(replayed, list):
        for index, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        if len(recorded) != len(replayed):
            return f"{path}: recorded {len(recorded)} items, replayed {len(replayed)}"
        return None
    if recorded == replayed:
        return None
    if isinstance(recorded, str) and isinstance(replayed, str):
        at = next(
            (i for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)) if a != b),
            min(len(recorded), len(replayed)),
        )
        if at > 20 or max(len(recorded), len(replayed)) > 80:
            return (
                f"{path} from character {at}: recorded {_short(recorded[at:])}, "
                f"replayed {_short(replayed[at:])}"
            )
    return f"{path}: recorded {_short(recorded)}, replayed {_short(replayed)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Verdict:
    """How a replayed document compares with its recording."""

    identical: bool
    digest: str
    difference: str | None


def compare(recorded: bytes, replayed: bytes) -> Verdict:
    """Compare two documents byte for byte; where they differ, the first JSON path."""
    if replayed == recorded:
        return Verdict(True, digest(replayed), None)
    try:
        where = first_difference(msgspec.json.decode(recorded), msgspec.json.decode(replayed))
    except msgspec.DecodeError:
        where = "the recorded file is not JSON (damaged)"
    return Verdict(False, digest(replayed), where or "the encodings differ")


def compare_snapshot(recorded: bytes, label: str, ctx: Context) -> Verdict:
    """Compare a recorded snapshot with ``ctx``; a difference is a path into the context."""
    verdict = compare(recorded, encode_snapshot(label, ctx))
    where = verdict.difference
    if where is not None and where.startswith("$.context"):
        return Verdict(False, verdict.digest, "$" + where.removeprefix("$.context"))
    return verdict


class ComparingCheckpoints:
    """On replay: compares each snapshot with the one a session recorded under its label."""

    def __init__(self, session: Path) -> None:
        self.session = session
        self.compared: list[tuple[str, str | None]] = []

    def save(self, label: str, ctx: Context) -> None:
        path = self.session / "snapshots" / f"{label}.json"
        if not path.is_file():
            self.compared.append((label, "no snapshot was recorded here"))
            return
        self.compared.append((label, compare_snapshot(path.read_bytes(), label, ctx).difference))


def recorded_context(path: Path) -> Result[bytes, Problem]:
    """The bytes of a context a session ended with (``context.json``), checked to decode."""
    try:
        data = path.read_bytes()
    except OSError:
        return Failure(
            Problem(
                what=f"{path} is missing: the recorded session did not finish writing",
                where=str(path),
                fix="record it again",
            )
        )
    return (
        decode_context(data)
        .map(lambda _: data)
        .alt(lambda e: Problem(what=f"{path}: {e}", where=str(path)))
    )

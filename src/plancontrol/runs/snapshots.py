"""Snapshots of the context: their bytes, read back, and compared with what a replay made."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, decode_context, encode_context
from plancontrol.core.problem import Problem
from plancontrol.runs.deltas import DELTA_SCHEMA, Delta, decode_delta, delta_of, rebuild

__all__ = [
    "SNAPSHOT_SCHEMA",
    "ComparingCheckpoints",
    "SnapshotFiles",
    "Verdict",
    "compare",
    "compare_recorded",
    "compare_snapshot",
    "decode_snapshot",
    "digest",
    "encode_snapshot",
    "first_difference",
    "recorded_context",
    "stored_form",
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


def compare_recorded(files: SnapshotFiles, label: str, ctx: Context) -> Verdict:
    """Compare ``ctx`` with the snapshot recorded under ``label`` in ``files``; one that
    cannot be read whole differs, with the reason as where."""
    match files.read(label, checked=False):
        case Success(recorded):
            return compare_snapshot(recorded, label, ctx)
        case Failure(problem):
            return Verdict(False, digest(encode_snapshot(label, ctx)), problem.message)
    raise AssertionError("unreachable")  # pragma: no cover


class ComparingCheckpoints:
    """On replay: compares each snapshot with the one a session recorded under its label."""

    def __init__(self, session: Path) -> None:
        self.session = session
        self.files = SnapshotFiles(session)
        self.compared: list[tuple[str, str | None]] = []

    def save(self, label: str, ctx: Context) -> None:
        if not self.files.path(label).is_file():
            self.compared.append((label, "no snapshot was recorded here"))
            return
        self.compared.append((label, compare_recorded(self.files, label, ctx).difference))


def stored_form(previous: tuple[str, bytes] | None, snapshot: bytes) -> bytes:
    """What a session writes for the whole ``snapshot``: its delta since ``previous`` (the
    label and whole bytes of the snapshot the session wrote before it), else itself."""
    if previous is None:
        return snapshot
    return delta_of(previous[0], previous[1], snapshot) or snapshot


class _Schema(msgspec.Struct):
    schema: int


_SCHEMA = msgspec.json.Decoder(_Schema)
_NOT_RECORDED = "is not the snapshot that was recorded (cut short or edited by hand: {})"


class SnapshotFiles:
    """The snapshots of one session (``sessions/NN/snapshots/LABEL.json``), each read whole:
    a file holding a delta is rebuilt from the snapshots before it, each checked against the
    sha256 its successor was stored with. The last few rebuilt are kept, so that reading a
    session's snapshots in order reads each file once."""

    def __init__(self, session: Path) -> None:
        self.folder = session / "snapshots"
        self._whole: dict[str, bytes] = {}

    def path(self, label: str) -> Path:
        """Where the snapshot ``label`` is stored."""
        return self.folder / f"{label}.json"

    def read(self, label: str, checked: bool = True) -> Result[bytes, Problem]:
        """The whole bytes of the snapshot ``label`` (as ``encode_snapshot`` made them), or
        a one-line Problem naming the file that is missing or damaged. Unless ``checked``,
        the bytes of an edited ``label`` itself are given as rebuilt (a replay says where
        they differ from its own); the snapshots it is built on are checked all the same."""
        match self._chain(label):
            case Failure(problem):
                return Failure(problem)
            case Success((data, chain)):
                pass
        sha = digest(data)
        for path, delta in reversed(chain):
            if sha != delta.base_sha256:
                base = self.path(delta.base)
                why = f"its sha256 differs from the one {path.name} was stored against"
                return Failure(_problem(base, f"{base} {_NOT_RECORDED.format(why)}"))
            try:
                data = rebuild(data, delta)
            except ValueError as exc:
                return Failure(_problem(path, f"{path} {_NOT_RECORDED.format(exc)}"))
            sha = digest(data)
            if sha != delta.sha256 and not checked and delta.label == label:
                return Success(data)  # edited by hand: not kept for later reads
            if sha != delta.sha256:
                why = "its changes do not rebuild the snapshot they were stored for"
                return Failure(_problem(path, f"{path} {_NOT_RECORDED.format(why)}"))
            self._keep(delta.label, data)
        return Success(data)

    def _chain(self, label: str) -> Result[tuple[bytes, list[tuple[Path, Delta]]], Problem]:
        """The whole snapshot the deltas leading to ``label`` start from, and those deltas
        (the last one ``label``'s)."""
        chain: list[tuple[Path, Delta]] = []
        while label not in self._whole:
            path = self.path(label)
            try:
                data = path.read_bytes()
            except OSError:
                after = f" ({chain[-1][0].name} is stored as its changes since it)" if chain else ""
                return Failure(_problem(path, f"{path} is missing{after}"))
            try:
                if _SCHEMA.decode(data).schema != DELTA_SCHEMA:
                    return Success((data, chain))
                delta = decode_delta(data)
            except (ValueError, msgspec.DecodeError, RecursionError) as exc:
                why = exc if str(exc) else type(exc).__name__
                return Failure(_problem(path, f"{path} {_NOT_RECORDED.format(why)}"))
            if delta.label != label or delta.base in {label, *(d.label for _, d in chain)}:
                why = f"it holds {delta.label!r} after {delta.base!r}"
                return Failure(_problem(path, f"{path} {_NOT_RECORDED.format(why)}"))
            chain.append((path, delta))
            label = delta.base
        return Success((self._whole[label], chain))

    def _keep(self, label: str, data: bytes) -> None:
        self._whole[label] = data
        while len(self._whole) > 2:
            del self._whole[next(iter(self._whole))]


def _problem(path: Path, what: str) -> Problem:
    if " is missing" in what:
        return Problem(what=what, where=str(path), fix="restore it from a copy of the run folder")
    edited = (
        "restore it from a copy (to change a variable or a setting, give `sets` to resume or "
        "fork rather than editing a snapshot)"
    )
    return Problem(what=what, where=str(path), fix=edited)


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

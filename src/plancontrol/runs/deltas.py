"""A snapshot stored as its changes since the one before it, and rebuilt byte for byte (no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import msgspec

__all__ = ["DELTA_SCHEMA", "Delta", "FieldChange", "decode_delta", "delta_of", "rebuild"]

DELTA_SCHEMA = 2
"""The schema of a snapshot file that holds a delta (a whole snapshot's is 1)."""


class FieldChange(msgspec.Struct, frozen=True, array_like=True):
    """One field of the context: the base's same field cut to its first ``keep`` and last
    ``tail`` characters, with ``middle`` between."""

    name: str
    keep: int
    middle: str
    tail: int


class Delta(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A snapshot as its changes since ``base`` (a label of the same session), whose
    snapshot bytes have the sha256 ``base_sha256``; the snapshot rebuilt has ``sha256``.

    A snapshot's context is a JSON object of a few fields (the task, the plan, the outcomes,
    the usage…); from one snapshot to the next most fields stay the same and the lists only
    grow. A delta keeps, for each field in order, how many characters of the base's field
    begin it (``keep``), what follows (``middle``) and how many characters of the base's
    field end it (``tail``): an appended item costs its own bytes, an unchanged field a few.
    """

    schema: int
    label: str
    base: str
    base_sha256: str
    sha256: str
    fields: tuple[FieldChange, ...]


_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])


class _Whole(msgspec.Struct, frozen=True):
    schema: int
    label: str
    context: msgspec.Raw


def _fields(snapshot: bytes) -> tuple[str, dict[str, str]]:
    """A whole snapshot's label and its context's fields, each as its JSON text."""
    whole = msgspec.json.decode(snapshot, type=_Whole)
    found = _FIELDS.decode(bytes(whole.context))
    return whole.label, {name: bytes(raw).decode() for name, raw in found.items()}


def _change(name: str, old: str, new: str) -> FieldChange:
    """How ``new`` is made of ``old``: their common start and end, and what differs."""
    limit = min(len(old), len(new))
    keep = _longest(lambda n: old[:n] == new[:n], limit)
    tail = _longest(lambda n: old[len(old) - n :] == new[len(new) - n :], limit - keep)
    return FieldChange(name, keep, new[keep : len(new) - tail], tail)


def _longest(holds: Callable[[int], bool], limit: int) -> int:
    """The largest n up to ``limit`` for which ``holds(n)`` (true up to some n, then false).

    >>> _longest(lambda n: n <= 7, 10)
    7
    """
    low, high = 0, limit
    while low < high:
        mid = (low + high + 1) // 2
        if holds(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _assembled(label: str, fields: list[tuple[str, str]]) -> bytes:
    """A whole snapshot's bytes, as ``snapshots.encode_snapshot`` writes them."""
    context = ",".join(f"{msgspec.json.encode(k).decode()}:{v}" for k, v in fields)
    head = msgspec.json.encode({"schema": 1, "label": label})
    return head[:-1] + b',"context":{' + context.encode() + b"}}"


def delta_of(base_label: str, base: bytes, snapshot: bytes) -> bytes | None:
    """The delta file's bytes for the whole ``snapshot`` against the whole ``base``; None
    when ``snapshot`` would not be rebuilt from it byte for byte (then it is kept whole).

    >>> from plancontrol.core.context import Context
    >>> from plancontrol.runs.snapshots import encode_snapshot
    >>> a, b = encode_snapshot("plan", Context(task="t")), encode_snapshot("step-01", Context(
    ...     task="t", feedback=("more",)))
    >>> delta = decode_delta(delta_of("plan", a, b))
    >>> [f for f in delta.fields if f.middle]
    [FieldChange(name='feedback', keep=1, middle='"more"', tail=1)]
    >>> rebuild(a, delta) == b
    True
    """
    try:
        _, old = _fields(base)
        label, new = _fields(snapshot)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None
    changes = tuple(_change(name, old.get(name, ""), text) for name, text in new.items())
    delta = Delta(
        schema=DELTA_SCHEMA,
        label=label,
        base=base_label,
        base_sha256=hashlib.sha256(base).hexdigest(),
        sha256=hashlib.sha256(snapshot).hexdigest(),
        fields=changes,
    )
    if rebuild(base, delta) != snapshot:
        return None
    return msgspec.json.encode(delta)


def decode_delta(data: bytes | None) -> Delta:
    """The delta in a snapshot file's bytes; a ValueError saying what is wrong."""
    if data is None:
        raise ValueError("no delta")
    try:
        delta = msgspec.json.decode(data, type=Delta)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeError, RecursionError) as exc:
        raise ValueError(f"not a plancontrol snapshot delta: {exc}") from None
    if delta.schema != DELTA_SCHEMA:
        raise ValueError(f"snapshot schema {delta.schema}")
    return delta


def rebuild(base: bytes, delta: Delta) -> bytes:
    """The whole snapshot ``delta`` stands for, made of the whole snapshot ``base``; a
    ValueError when ``base`` does not fit it."""
    try:
        _, old = _fields(base)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise ValueError(f"its base is not a whole snapshot: {exc}") from None
    fields = []
    for change in delta.fields:
        text = old.get(change.name, "")
        if change.keep < 0 or change.tail < 0 or change.keep + change.tail > len(text):
            raise ValueError(f"the field {change.name!r} does not fit its base")
        fields.append(
            (change.name, text[: change.keep] + change.middle + text[len(text) - change.tail :])
        )
    return _assembled(delta.label, fields)

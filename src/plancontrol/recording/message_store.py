"""Cassette files: readable JSON whose request messages are stored once per session, by hash."""

# Every request of a session repeats messages: each agent's system message, and within a step
# the earlier turns. A cassette written here keeps each request message of ``INLINE_BELOW``
# bytes or more in the session's table, ``sessions/NN/messages.json`` (sha256 of the
# message's compact JSON -> the message), and puts ``"sha256:<hex>"`` in its place; the
# cassette says so with a top-level ``"message_table"``. Shorter messages stay inline: a
# reference costs 71 bytes, and the short turns are what a reader follows a conversation by.
# Readers get the requests whole (``read_cassette``, the persister vcrpy loads through), so
# matching and replay compare exactly what was sent. A cassette without ``"message_table"``
# (format 3, or written by hand) is read as it stands.

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from plancontrol.handlers.files import write_atomic

__all__ = [
    "INLINE_BELOW",
    "TABLE",
    "DamagedCassette",
    "ReadableJSON",
    "TablePersister",
    "message_hash",
    "read_cassette",
    "table_of",
]

TABLE = "messages.json"
INLINE_BELOW = 256
_REF = "sha256:"
_MARK = "message_table"


class DamagedCassette(ValueError):
    """A cassette or its message table that cannot be read whole: the message is one line
    naming the file (and the hash) and how to fix it."""


def _compact(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def message_hash(message: Any) -> str:
    """The sha256 of ``message``'s compact JSON (key order kept), by which it is stored.

    >>> message_hash({"role": "user", "content": "hi"})[:12]
    'ae760f5ba03c'
    """
    return hashlib.sha256(_compact(message)).hexdigest()


def table_of(cassette: Path) -> Path:
    """The message table of the session that ``cassette`` belongs to.

    >>> table_of(Path("run/sessions/01/cassettes/step-01.json")).as_posix()
    'run/sessions/01/messages.json'
    """
    return cassette.parent.parent / TABLE


def _restore(path: Path) -> str:
    return f"restore {path} from a copy of the run folder or record again"


@lru_cache(maxsize=4)
def _table_at(path: str, stamp: tuple[int, int]) -> Mapping[str, Any]:
    """The verified table in ``path`` as it was at ``stamp`` (mtime, size): read once per
    replay, not once per cassette."""
    try:
        table: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DamagedCassette(
            f"{path} is damaged ({type(exc).__name__}: {exc}); restore it from a copy"
        ) from None
    if not isinstance(table, dict):
        raise DamagedCassette(
            f"{path} is damaged (not a table of messages); restore it from a copy"
        )
    for key, message in table.items():
        if message_hash(message) != key:
            raise DamagedCassette(
                f"{path} is damaged: the message stored as {_REF}{key} does not hash to it; "
                "restore it from a copy"
            )
    return MappingProxyType(table)


def _load_table(path: Path) -> Mapping[str, Any] | None:
    """The verified table at ``path``, None when there is none."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _table_at(str(path), (stat.st_mtime_ns, stat.st_size))


def _stored(cassette: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    """``cassette`` (readable) with each long request message put in ``table`` and referred
    to by hash."""
    interactions = []
    shared = False
    for interaction in cassette.get("interactions", []):
        body = interaction["request"].get("body")
        messages = body["json"].get("messages") if _is_json(body) else None
        if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
            refs: list[Any] = []
            for message in messages:
                if len(_compact(message)) < INLINE_BELOW:
                    refs.append(message)
                    continue
                key = message_hash(message)
                table.setdefault(key, message)
                refs.append(_REF + key)
                shared = True
            body = {**body, "json": {**body["json"], "messages": refs}}
        interactions.append({**interaction, "request": {**interaction["request"], "body": body}})
    return {**cassette, "interactions": interactions, **({_MARK: TABLE} if shared else {})}


def _is_json(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("json"), dict)


def _expanded(cassette: dict[str, Any], path: Path | None) -> None:
    """Put back, in place, the messages ``cassette`` (read from ``path``) refers to."""
    if _MARK not in cassette:
        return
    if path is None:
        raise DamagedCassette("a cassette that refers to stored messages, read without its path")
    table_path = table_of(path)
    table = _load_table(table_path)
    for interaction in cassette["interactions"]:
        body = interaction["request"].get("body")
        messages = body["json"].get("messages") if _is_json(body) else None
        if not isinstance(messages, list):
            continue
        for index, item in enumerate(messages):
            if not isinstance(item, str):
                continue
            key = item.removeprefix(_REF)
            if table is None:
                raise DamagedCassette(
                    f"{table_path} is missing, and {path} refers to message {item} in it; "
                    + _restore(table_path)
                )
            if key not in table:
                raise DamagedCassette(
                    f"{path} refers to message {item}, which {table_path} does not hold; "
                    + _restore(table_path)
                )
            messages[index] = json.loads(_compact(table[key]))  # a copy: the table is shared


class ReadableJSON:
    """A vcrpy serializer that writes cassettes as JSON with request and response bodies
    parsed, not escaped into strings: readable in review, quick to load."""

    @staticmethod
    def readable(cassette: dict[str, Any]) -> dict[str, Any]:
        """``cassette`` as vcrpy holds it, with its bodies parsed (new dicts: vcrpy hands over
        the interactions it keeps in memory, saved again later)."""
        interactions = [
            {
                **interaction,
                "request": {
                    **interaction["request"],
                    "body": _parsed(interaction["request"].get("body")),
                },
                "response": {
                    **interaction["response"],
                    "body": _parsed((interaction["response"].get("body") or {}).get("string")),
                },
            }
            for interaction in cassette.get("interactions", [])
        ]
        return {**cassette, "interactions": interactions}

    @staticmethod
    def serialize(cassette: dict[str, Any]) -> str:
        return _dumps(ReadableJSON.readable(cassette))

    @staticmethod
    def deserialize(text: str, path: Path | None = None) -> dict[str, Any]:
        """The cassette in ``text`` as vcrpy loads it; messages stored in the table of the
        session are put back (``path`` is where the cassette was read from)."""
        cassette = _checked(text)
        _expanded(cassette, path)
        for interaction in cassette["interactions"]:
            request, response = interaction["request"], interaction["response"]
            request["body"] = _unparsed(request.get("body"))
            response["body"] = {"string": _unparsed(response.get("body"))}
        return cassette


def _dumps(cassette: dict[str, Any]) -> str:
    return json.dumps(cassette, indent=1, ensure_ascii=False) + "\n"


def _checked(text: str) -> dict[str, Any]:
    try:
        cassette: Any = json.loads(text)
    except RecursionError:
        raise ValueError("not a cassette: nested too deeply") from None
    interactions = cassette.get("interactions") if isinstance(cassette, dict) else None
    if not isinstance(interactions, list) or not all(
        isinstance(i, dict)
        and isinstance(i.get("request"), dict)
        and isinstance(i.get("response"), dict)
        for i in interactions
    ):
        raise ValueError("not a cassette: expected interactions of a request and a response")
    checked: dict[str, Any] = cassette
    return checked


def read_cassette(path: Path) -> dict[str, Any]:
    """The cassette at ``path`` as readable JSON (bodies parsed: ``{"json": ...}``) with
    every request message in place, whichever way it was stored: the one way to read a
    cassette outside vcrpy. Raises ``DamagedCassette`` (one line) when a message it refers
    to cannot be found, ``OSError`` or ``ValueError`` when the file cannot be read."""
    cassette = _checked(path.read_text(encoding="utf-8"))
    _expanded(cassette, path)
    cassette.pop(_MARK, None)
    return cassette


def _parsed(body: Any) -> Any:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return {"json": json.loads(body)}
        except ValueError:
            return {"text": body}
    return body


def _unparsed(body: Any) -> Any:
    if isinstance(body, dict) and "json" in body:
        return json.dumps(body["json"], separators=(",", ":"), ensure_ascii=False)
    if isinstance(body, dict) and "text" in body:
        return body["text"]
    return body


class _Bound:
    """ReadableJSON bound to where the cassette lives and the session's table."""

    def __init__(self, path: Path, table: dict[str, Any]) -> None:
        self.path, self.table = path, table

    def serialize(self, cassette: dict[str, Any]) -> str:
        return _dumps(_stored(ReadableJSON.readable(cassette), self.table))

    def deserialize(self, text: str) -> dict[str, Any]:
        return ReadableJSON.deserialize(text, self.path)


class TablePersister:
    """vcrpy's filesystem persister, but a cassette is replaced atomically when saved and
    its long request messages go to the session's table, which is written (atomically,
    before the cassette that refers to it) only when it gained messages."""

    def __init__(self) -> None:
        self._tables: dict[Path, dict[str, Any]] = {}

    @staticmethod
    def bound(path: Path) -> Any:
        """The serializer that reads the cassette at ``path`` whole (``vcr.serialize``)."""
        return _Bound(path, {})

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteNotFoundError
        from vcr.serialize import deserialize

        path = Path(cassette_path)
        if not path.is_file():
            raise CassetteNotFoundError()
        return deserialize(path.read_text(encoding="utf-8"), self.bound(path))

    def save_cassette(self, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        from vcr.serialize import serialize

        path = Path(cassette_path)
        where = table_of(path)
        if where not in self._tables:
            self._tables[where] = dict(_load_table(where) or {})
        table = self._tables[where]
        size = len(table)
        text = serialize(cassette_dict, _Bound(path, table))
        if len(table) > size:
            write_atomic(where, _dumps(table))
        write_atomic(path, text)

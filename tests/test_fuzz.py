"""Fuzzing the decoders and loaders with random and mutated input: only clean error values."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success
from strategies import contexts, plans, reviews

from plancontrol.core.answers import Code, Install, Verdict
from plancontrol.core.asking import ask_typed
from plancontrol.core.context import Context, decode_context, encode_context
from plancontrol.core.errors import InvalidReply, ModelFailure
from plancontrol.core.phase import Halt
from plancontrol.core.phases.planning import draft_plan, review_plan
from plancontrol.core.plan import Plan, Review, check_plan, plan_text
from plancontrol.core.ports import Message, Reply, Request
from plancontrol.core.problem import Problem
from plancontrol.core.settings import Settings
from plancontrol.recording.cassettes import CassetteAgents, ReadableJSON, cassette_name
from plancontrol.recording.message_store import TABLE, read_cassette
from plancontrol.runs.folder import read_manifest, read_session
from plancontrol.runs.journal import read_journal
from plancontrol.runs.snapshots import decode_snapshot, encode_snapshot
from plancontrol.testing import FunctionAgents, scripted_effects

RECORDED = Path(__file__).resolve().parent.parent / "cassettes" / "primes-test-server"
SESSION = RECORDED / "sessions" / "01"

EXAMPLES = int(os.environ.get("PLANCONTROL_FUZZ_EXAMPLES", "0"))
"""Set to run a longer, randomised campaign; CI runs a fixed, bounded set of examples."""
FUZZ = hsettings(
    max_examples=EXAMPLES or 150,
    deadline=None,
    derandomize=not EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = hsettings(FUZZ, max_examples=EXAMPLES or 60)


# --- inputs -----------------------------------------------------------------------------

TOKENS = [
    b"null",
    b"true",
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b",",
    b":",
    b"-",
    b"0",
    b"1e999",
    b"-0.0e-400",
    b"18446744073709551616",
    b"NaN",
    b'"\\u0000"',
    b'"\\ud800"',
    b'"\\',
    b"\xff",
    b"\xc3",
    b"\x00",
    b"\xef\xbb\xbf",
    b"[" * 64,
    b"{}" * 8,
]
"""Fragments that steer a mutation toward the decoder's corners."""


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with one to four byte-level edits: flipped bits, cuts, inserts, deletions."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        match draw(st.sampled_from(["flip", "cut", "insert", "token", "delete", "repeat"])):
            case "flip" if data:
                data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
            case "cut":
                del data[at:]
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            case "token":
                data[at:at] = draw(st.sampled_from(TOKENS))
            case "delete":
                del data[at : at + draw(st.integers(1, 32))]
            case "repeat":
                data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(st.characters(codec="utf-8"), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        yield from _paths(child, (*path, key))


@st.composite
def reshaped(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` JSON with one to three values replaced, dropped or added at random places."""
    doc = json.loads(valid)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        value = draw(JSON_VALUES)
        if not path:
            doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        match draw(st.sampled_from(["replace", "drop", "add"])):
            case "replace":
                parent[path[-1]] = value
            case "drop":
                del parent[path[-1]]
            case "add" if isinstance(parent, dict):
                parent[draw(st.text(max_size=10))] = value
            case "add":
                parent.insert(path[-1], value)
    return json.dumps(doc).encode()


@st.composite
def reshaped_line(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` JSON Lines with one line reshaped."""
    lines = valid.split(b"\n")
    at = draw(st.sampled_from([i for i, line in enumerate(lines) if line.strip()]))
    lines[at] = draw(reshaped(lines[at]))
    return b"\n".join(lines)


def fuzzed(valid: st.SearchStrategy[bytes], lines: bool = False) -> st.SearchStrategy[bytes]:
    """Random bytes, or a valid document (JSON, or JSON Lines with ``lines``) mutated byte by
    byte or value by value."""
    return st.one_of(
        st.binary(max_size=200),
        valid.flatmap(mutated),
        valid.flatmap(reshaped_line if lines else reshaped),
    )


def _files(folder: Path, pattern: str) -> st.SearchStrategy[bytes]:
    """The committed recording's files, read when first drawn: collecting never reads them, so
    a recording being re-made fails only the tests that use it."""
    return st.deferred(lambda: st.sampled_from(sorted(folder.glob(pattern))).map(Path.read_bytes))


def _text(data: bytes) -> str:
    """What a reply or a file's text may be: undecodable bytes become unpaired surrogates."""
    return data.decode("utf-8", errors="surrogateescape")


DEEP = [
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
]
"""Nesting deeper than any stack: msgspec raises RecursionError, json.loads too."""


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _clean(result: Result[Any, Any], prefix: str = "") -> None:
    """A Success, or a Failure carrying a one-line message (with ``prefix``)."""
    assert isinstance(result, Success | Failure)
    if isinstance(result, Failure):
        failure = result.failure()  # the core's decoders say a str, the run folder's a Problem
        message = failure.message if isinstance(failure, Problem) else failure
        assert isinstance(message, str)
        assert message.startswith(prefix), message
        assert message.strip()


# --- the snapshot decoders --------------------------------------------------------------


@FUZZ
@given(fuzzed(contexts().map(encode_context)))
def test_decode_context_gives_a_context_or_says_what_is_wrong(data: bytes) -> None:
    result = decode_context(data)

    _clean(result, "not a plancontrol context: ")
    _clean(decode_context(_text(data)), "not a plancontrol context: ")
    if isinstance(result, Success):  # what decodes, encodes back to what decodes the same
        ctx = result.unwrap()
        assert decode_context(encode_context(ctx)) == Success(ctx)


ANY_TEXT = st.lists(st.characters() | st.characters(categories=["Cs"]), max_size=60).map("".join)
"""Text with unpaired surrogates too, as ``json.loads`` makes of a ``"\\ud800"`` escape."""


@FEW
@given(ANY_TEXT)
def test_decode_context_takes_any_text_even_with_unpaired_surrogates(text: str) -> None:
    _clean(decode_context(text), "not a plancontrol context: ")


@pytest.mark.parametrize("data", DEEP, ids=["open", "closed", "objects"])
def test_decode_context_refuses_deep_nesting_with_a_message(data: bytes) -> None:
    wrapped = b'{"task": "t", "variables": {"a": ' + data + b"}}"

    _clean(decode_context(data), "not a plancontrol context: ")
    assert decode_context(wrapped) == Failure(
        "not a plancontrol context: JSON is nested too deeply"
    )


@FUZZ
@example(b'{"schem\xe9": 1}')
@given(fuzzed(_files(SESSION / "snapshots", "*.json")))
def test_decode_snapshot_gives_a_label_and_context_or_a_message(data: bytes) -> None:
    result = decode_snapshot(data)

    _clean(result)
    if isinstance(result, Success):
        label, ctx = result.unwrap()
        assert decode_snapshot(encode_snapshot(label, ctx)) == result


def test_decode_snapshot_refuses_deep_nesting_with_a_message() -> None:
    _clean(decode_snapshot(b'{"schema": 1, "label": "plan", "context": ' + DEEP[1] + b"}"))


# --- the plan, review and other reply decoders ------------------------------------------

REPLIES: list[tuple[type[Any], st.SearchStrategy[Any]]] = [
    (Plan, plans(Settings())),
    (Review, reviews()),
    (Code, st.builds(Code, st.text(max_size=80), st.text(max_size=40))),
    (
        Verdict,
        st.builds(
            Verdict,
            st.sampled_from(["success", "fix", "install"]),
            st.text(max_size=40),
            st.text(max_size=40),
            st.lists(st.text(max_size=10), max_size=3).map(tuple),
        ),
    ),
    (Install, st.lists(st.text(max_size=10), max_size=3).map(lambda p: Install(tuple(p)))),
    (dict[str, Any], st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)),
]


def _ask(text: str, typ: type[Any]) -> Result[Any, Halt]:
    request = Request(
        role="planner",
        model="m",
        phase="planning",
        step=0,
        attempt=1,
        system="s",
        messages=(Message("user", "u"),),
    )
    fx = scripted_effects(agents=FunctionAgents(lambda r: text))
    return ask_typed(Context(task="t"), fx, request, typ)


@pytest.mark.parametrize(
    ("typ", "values"), REPLIES, ids=["Plan", "Review", "Code", "Verdict", "Install", "dict"]
)
def test_typed_replies_decode_or_end_in_invalid_reply(
    typ: type[Any], values: st.SearchStrategy[Any]
) -> None:
    @FUZZ
    @given(fuzzed(values.map(msgspec.json.encode)))
    def check(data: bytes) -> None:
        result = _ask(_text(data), typ)
        match result:
            case Success((_, value)):
                assert isinstance(value, getattr(typ, "__origin__", typ))
                if isinstance(value, Plan):
                    _clean(check_plan(value, Settings()).map(plan_text).alt(lambda e: e.message))
            case Failure(halt):
                assert isinstance(halt.error, InvalidReply)
                assert halt.error.message.startswith("planner (planning) replied 3 time(s) ")

    check()


@pytest.mark.parametrize("data", DEEP, ids=["open", "closed", "objects"])
@pytest.mark.parametrize("typ", [Plan, Review, dict[str, Any]], ids=["Plan", "Review", "dict"])
def test_deeply_nested_replies_end_in_invalid_reply(data: bytes, typ: type[Any]) -> None:
    result = _ask(data.decode(), typ)

    assert isinstance(result, Failure)
    assert isinstance(result.failure().error, InvalidReply)


def test_a_reply_with_an_unpaired_surrogate_ends_in_invalid_reply_naming_it() -> None:
    result = _ask('{"code": "print(\ud83d)"}', Code)

    error = result.failure().error
    assert isinstance(error, InvalidReply)
    assert (error.path, error.detail) == (
        "$",
        "the reply is not valid Unicode (it holds an unpaired surrogate)",
    )


@FEW
@given(
    fuzzed(plans(Settings()).map(msgspec.json.encode)), fuzzed(reviews().map(msgspec.json.encode))
)
def test_the_planning_phases_take_any_planner_and_reviewer_reply(
    plan_reply: bytes, review_reply: bytes
) -> None:
    agents = FunctionAgents(
        {"planner": lambda r: _text(plan_reply), "plan_reviewer": lambda r: _text(review_reply)}
    )
    fx = scripted_effects(agents=agents)

    drafted = draft_plan(Context(task="t"), fx)

    assert isinstance(drafted, Success | Failure)
    if isinstance(drafted, Success):
        reviewed = review_plan(drafted.unwrap(), fx)
        assert isinstance(reviewed, Success | Failure)


# --- the journal loader -----------------------------------------------------------------


def _journal(scratch: Path, data: bytes) -> Result[Any, str]:
    path = scratch / "journal.jsonl"
    path.write_bytes(data)
    return read_journal(path)


def test_the_committed_journal_reads(scratch: Path) -> None:
    assert isinstance(_journal(scratch, (SESSION / "journal.jsonl").read_bytes()), Success)


@FUZZ
@example(b'{"type":"T\xe9cked","value":1.0}\n')
@given(fuzzed(_files(SESSION, "journal.jsonl"), lines=True))
def test_read_journal_gives_entries_or_names_the_bad_line(scratch: Path, data: bytes) -> None:
    _clean(_journal(scratch, data))


def test_read_journal_refuses_a_deeply_nested_line(scratch: Path) -> None:
    deep = b'{"type":"Ticked","value":1.0,"x":' + DEEP[1] + b"}\n"

    _clean(_journal(scratch, deep + b'{"type":"Ticked","value":2.0}\n'))


# --- the run folder's manifest and sessions ---------------------------------------------


def _manifest(scratch: Path, data: bytes) -> Result[Any, Problem]:
    (scratch / "manifest.json").write_bytes(data)
    return read_manifest(scratch)


def test_the_committed_manifest_reads(scratch: Path) -> None:
    assert isinstance(_manifest(scratch, (RECORDED / "manifest.json").read_bytes()), Success)


@FUZZ
@example(b'{"forma\xa8t": 2}')
@given(fuzzed(_files(RECORDED, "manifest.json")))
def test_read_manifest_gives_a_manifest_or_says_what_is_wrong(scratch: Path, data: bytes) -> None:
    _clean(_manifest(scratch, data))


def test_read_manifest_refuses_deep_nesting(scratch: Path) -> None:
    _clean(_manifest(scratch, b'{"format": 2, "x": ' + DEEP[1] + b"}"))


def _session(scratch: Path, data: bytes) -> Result[Any, Problem]:
    (scratch / "session.json").write_bytes(data)
    return read_session(scratch / "session.json")


@FUZZ
@example(b'{"comm\xe9nd": "run"}')
@given(fuzzed(_files(SESSION, "session.json")))
def test_read_session_gives_a_session_or_says_what_is_wrong(scratch: Path, data: bytes) -> None:
    _clean(_session(scratch, data))


# --- the cassette loader ----------------------------------------------------------------

LOADER_ERRORS = (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError)
"""What ``ReadableJSON.deserialize`` may raise: the errors CassetteAgents turns into a
message (``cassettes._unreadable``)."""


@FUZZ
@example(b"null")
@given(fuzzed(_files(SESSION / "cassettes", "*.json")))
def test_readable_json_deserializes_or_raises_what_the_loader_handles(data: bytes) -> None:
    try:
        cassette = ReadableJSON.deserialize(_text(data), SESSION / "cassettes" / "plan.json")
    except LOADER_ERRORS:
        return
    assert isinstance(cassette, dict)


def test_readable_json_refuses_deep_nesting_with_a_loader_error() -> None:
    with pytest.raises(LOADER_ERRORS):
        ReadableJSON.deserialize(DEEP[1].decode())


def _first_cassette() -> Path:
    """The recording's cassette that holds the planner's first request."""
    return next(
        path
        for path in sorted((SESSION / "cassettes").glob("*.json"))
        if "You are the planner" in json.dumps(read_cassette(path))
    )


class _Http:
    """Sends the first recorded request of the first cassette over HTTP (to a closed local
    port: only the cassette can answer), turning whatever happens into a value as Ag2Agents
    does."""

    def __init__(self) -> None:
        recorded = read_cassette(_first_cassette())
        self.body = json.dumps(recorded["interactions"][0]["request"]["body"]["json"])

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        import httpx

        try:
            response = httpx.post(
                "http://127.0.0.1:9/v1/chat/completions",
                content=self.body,
                headers={"content-type": "application/json"},
                timeout=2,
            )
            text = response.json()["choices"][0]["message"]["content"]
            return Success(Reply(text=str(text)))
        except Exception as exc:
            return Failure(ModelFailure(role=request.role, step=request.step, detail=repr(exc)))


PLANNER = Request(
    role="planner", model="m", phase="planning", step=0, attempt=1, system="", messages=()
)


def _replay(folder: Path, data: bytes, lenient: bool = False) -> Result[Reply, ModelFailure]:
    agents = CassetteAgents(_Http(), folder / "cassettes", "replay", lenient=lenient)
    (folder / "cassettes").mkdir(exist_ok=True)
    (folder / "cassettes" / cassette_name(PLANNER, agents.phase)).write_bytes(data)
    (folder / TABLE).write_bytes((SESSION / TABLE).read_bytes())  # the messages it refers to
    try:
        return agents.ask(PLANNER)
    finally:
        agents.close()


def _recorded_with(edit: Callable[[Any], object]) -> bytes:
    """The recording's first cassette with ``edit(first_interaction)`` applied."""
    cassette = read_cassette(_first_cassette())  # written back inline
    edit(cassette["interactions"][0])
    return json.dumps(cassette).encode()


def test_the_committed_cassette_replays(scratch: Path) -> None:
    result = _replay(scratch, _first_cassette().read_bytes())

    assert isinstance(result, Success)
    assert result.unwrap().text.startswith('{"sub_tasks"')


CASSETTE_CRASHES = [
    pytest.param(b"null", AttributeError, id="null: 'NoneType' object has no attribute 'get'"),
    pytest.param(b"7", AttributeError, id="7: 'int' object has no attribute 'get'"),
    pytest.param(
        b'{"interactions": [{"request": null, "response": {}}]}',
        AttributeError,
        id="request null",
    ),
    pytest.param(
        b'{"interactions": [{"request": {}, "response": "x"}]}', AttributeError, id="response str"
    ),
    pytest.param(DEEP[1], RecursionError, id="deep nesting: json.loads RecursionError"),
    pytest.param(
        lambda i: i["request"].pop("uri"),
        TypeError,
        id="request without uri: vcr Request.__init__ TypeError",
    ),
    pytest.param(
        lambda i: i["request"].pop("headers"),
        TypeError,
        id="request without headers: vcr Request.__init__ TypeError",
    ),
    pytest.param(
        lambda i: i["request"].update(body=1.5),
        AttributeError,
        id="request body 1.5: _clean_request 'float' object has no attribute 'encode'",
    ),
    pytest.param(
        lambda i: i["request"].update(uri=7),
        AttributeError,
        id="request uri 7: vcr parse 'int' object has no attribute 'decode'",
    ),
    pytest.param(
        lambda i: i["request"].update(headers=[1]),
        TypeError,
        id="request headers [1]: vcr TypeError",
    ),
    pytest.param(
        lambda i: i["response"].pop("headers"),
        KeyError,
        id="response without headers: vcr filters KeyError",
    ),
    pytest.param(
        lambda i: i["response"].update(body={}),
        AttributeError,
        id="response body {}: vcr compat 'dict' object has no attribute 'encode'",
    ),
]


@pytest.mark.parametrize(("data", "raised"), CASSETTE_CRASHES)
def test_a_damaged_cassette_fails_the_request_with_a_message(
    tmp_path: Path,
    data: bytes | Callable[[Any], object],
    raised: type[BaseException],
    request: pytest.FixtureRequest,
) -> None:
    result = _replay(tmp_path, data if isinstance(data, bytes) else _recorded_with(data))

    assert isinstance(result, Failure)
    assert result.failure().detail


@FEW
@example(b"null", False)
@given(fuzzed(st.deferred(lambda: st.just(_first_cassette().read_bytes()))), st.booleans())
def test_a_damaged_cassette_replays_or_fails_with_a_message(
    scratch: Path, data: bytes, lenient: bool
) -> None:
    result = _replay(scratch, data, lenient)

    assert isinstance(result, Success | Failure)
    if isinstance(result, Failure):
        assert isinstance(result.failure(), ModelFailure)
        assert result.failure().detail

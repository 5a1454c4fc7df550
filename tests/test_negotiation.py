"""Structured-output negotiation against a server that refuses json_schema as llama.cpp's does:
the run settles on a mode, says so in one line, journals it, and replay, resume and fork use
it without asking the server again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripts import happy_replies, plancontrol, run_against

from plancontrol.servers.replies import ServerReply
from plancontrol.servers.scripted import Exchange
from plancontrol.testing import OpenAITestServer, Status, role_of

pytestmark = pytest.mark.slow  # every test here starts a process or a server


def run_on(base_url: str, cwd: Path, *extra: str) -> Any:
    """``plancontrol run`` into ``cwd/run`` on model ``smol`` (the last --model wins)."""
    return run_against(base_url, "--model", "smol", "--max-retries", "0", *extra, cwd=cwd)


def formats(log: list[Exchange]) -> list[tuple[str, int, str | None]]:
    """Each request's role, status and response_format type (None: none sent)."""
    return [(e.key, e.status, (e.body.get("response_format") or {}).get("type")) for e in log]


def journal(run: Path, session: int) -> list[dict[str, Any]]:
    path = run / "sessions" / f"{session:02d}" / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def one_line(stderr: str) -> str:
    """stderr with the console's wrapping undone."""
    return " ".join(stderr.split())


def test_a_server_refusing_json_schema_settles_on_json_object_and_replays(tmp_path: Path) -> None:
    with OpenAITestServer(happy_replies(), strict="llama.cpp") as server:
        done = run_on(server.base_url, tmp_path)
        sent = formats(server.log)
    assert done.returncode == 0, done.stderr
    assert sent == [
        ("planner", 500, "json_schema"),  # refused, as llama-cpp-python's server does
        ("planner", 200, "json_object"),
        ("plan_reviewer", 200, "json_object"),
        ("planner", 200, "json_object"),
        ("engineer", 200, "json_object"),
        ("judge", 200, "json_object"),
        ("researcher", 200, None),  # free text: no response_format
    ]
    said = one_line(done.stderr)
    assert said.count("structured replies from smol:") == 1
    assert (
        "structured replies from smol: json_object, kept for the run (refused json_schema: "
        "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type')"
    ) in said
    run = tmp_path / "run"
    assert {"type": "Negotiated", "model": "smol", "mode": "json_object"} in journal(run, 1)
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)  # the server is gone
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith("replay identical to the recording (")
    assert "structured replies" not in replayed.stderr  # a replay settles nothing anew
    for part in ("plan", "step-01"):  # the negotiation replays; after it, its mode is kept
        alone = plancontrol("replay", "run", "--part", part, "-q", cwd=tmp_path)
        assert alone.returncode == 0, alone.stderr
        assert alone.stdout.startswith(f"replay of {part} identical to the recording")


def test_resume_and_fork_use_the_recorded_mode_without_asking_again(tmp_path: Path) -> None:
    replies = happy_replies()
    report = replies["researcher"][0]
    # step 2 fails first; then it is answered for the resume, and again for the fork
    replies["researcher"] = [Status(503, message="upstream overloaded"), report, report]
    replies["engineer"] *= 2
    replies["judge"] *= 2
    with OpenAITestServer(replies, strict="llama.cpp") as server:
        first = run_on(server.base_url, tmp_path)
        ran = len(server.log)
        resumed = plancontrol("resume", "run", "-q", cwd=tmp_path)
        after_resume = formats(server.log)[ran:]
        forked = plancontrol(
            "fork", "run", "--from-step", "1", "--into", "fork", "-q", cwd=tmp_path
        )
        after_fork = formats(server.log)[ran + len(after_resume) :]
    assert first.returncode == 1, first.stderr
    assert "upstream overloaded" in first.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert after_resume == [("researcher", 200, None)]
    assert forked.returncode == 0, forked.stderr
    assert after_fork == [
        ("engineer", 200, "json_object"),  # json_schema is not asked again
        ("judge", 200, "json_object"),
        ("researcher", 200, None),
    ]
    assert "structured replies" not in resumed.stderr + forked.stderr
    for folder in ("run", "fork"):
        replayed = plancontrol("replay", folder, "-q", cwd=tmp_path)
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.startswith("replay identical to the recording (")


def test_structured_forces_a_mode_and_a_refusal_says_what_to_try(tmp_path: Path) -> None:
    with OpenAITestServer(happy_replies(), strict="llama.cpp") as server:
        done = run_on(server.base_url, tmp_path, "--structured", "json_schema")
        sent = formats(server.log)
    assert done.returncode == 1
    assert sent == [("planner", 500, "json_schema")]  # no other mode tried
    said = one_line(done.stderr)
    assert (
        "model call for planner (planning) failed: InternalServerError (HTTP 500) from smol: "
        "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', "
        "'type'), 'msg': \"Input should be 'text' or 'json_object'\""
    ) in said
    assert "; try --structured json_object or --structured prompt" in said
    assert "File " not in said  # the server's traceback is left out


def test_a_server_refusing_every_response_format_settles_on_the_prompt(tmp_path: Path) -> None:
    refused = Status(400, message="response_format is not supported by this server")

    queues = happy_replies()

    def answer(body: dict[str, Any]) -> ServerReply:
        return refused if "response_format" in body else queues[role_of(body)].pop(0)

    with OpenAITestServer(answer) as server:
        done = run_on(server.base_url, tmp_path)
        sent = formats(server.log)
    assert done.returncode == 0, done.stderr
    assert sent[:3] == [
        ("planner", 400, "json_schema"),
        ("planner", 400, "json_object"),
        ("planner", 200, None),
    ]
    assert all(status == 200 for _, status, _ in sent[3:])
    assert "structured replies from smol: prompt, kept for the run" in one_line(done.stderr)

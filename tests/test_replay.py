"""Record a run through the CLI, then replay it offline: identical, fail-closed, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripts import PRIMES, plancontrol, review, run_against

from plancontrol.core.answers import Code, Verdict
from plancontrol.recording.message_store import read_cassette
from plancontrol.servers.embedded import local_model_available
from plancontrol.testing import OpenAITestServer

pytestmark = pytest.mark.slow  # every test here starts a process or a server

SECRET = "sk-plancontrol-test-DISTINCTIVE-7f3a9c"


def replies() -> dict[str, list[object]]:
    return {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("print(prime)"), Code("open('primes.txt', 'w').write('2 3 5')")],
        "judge": [Verdict("fix", "NameError", "define prime"), Verdict("success", "saved")],
        "researcher": ["# Report\nThree primes."],
    }


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A run recorded against the test server, which is stopped afterwards."""
    with OpenAITestServer(replies()) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path, key=SECRET)
    assert done.returncode == 0, done.stderr
    return tmp_path / "run"


def test_a_recorded_run_replays_identically_with_the_server_gone(recorded: Path) -> None:
    assert sorted(p.name for p in (recorded / "sessions" / "01" / "cassettes").iterdir()) == [
        "plan.json",
        "review.json",
        "step-01.json",
        "step-02.json",
    ]
    before = {p: p.read_bytes() for p in recorded.rglob("*") if p.is_file()}
    digests = set()
    for _ in range(3):
        done = plancontrol("replay", str(recorded), "-q", cwd=recorded.parent)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1].startswith(
            "replay identical to the recording (7 snapshots and the final context): sha256 "
        )
        digests.add(done.stdout.splitlines()[-1])
    assert len(digests) == 1
    after = {p: p.read_bytes() for p in recorded.rglob("*") if p.is_file()}
    assert after == before  # replay writes nothing into the run folder


def test_the_key_used_while_recording_is_nowhere_in_the_run_folder(recorded: Path) -> None:
    hits = [p for p in recorded.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert hits == []
    assert (
        b"authorization"
        not in (recorded / "sessions" / "01" / "cassettes" / "plan.json").read_bytes().lower()
    )


def test_replay_fails_closed_when_a_recorded_request_is_missing(recorded: Path) -> None:
    cassette = recorded / "sessions" / "01" / "cassettes" / "step-02.json"
    whole = json.dumps(read_cassette(cassette), ensure_ascii=False)  # written inline: it loads
    cassette.write_text(whole.replace("step 2 of 2", "step 2 of 3", 1))
    done = plancontrol("replay", str(recorded), cwd=recorded.parent)
    assert done.returncode == 1
    assert (
        "workflow stopped: model call for researcher (step 2) failed: researcher's request "
        "number 1 in step-02.json differs at $.messages" in " ".join(done.stderr.split())
    )
    assert done.stderr.splitlines()[-1] == (
        "plancontrol: replay differs from the recording, first in snapshot step-02 at "
        "$.outcomes[1].status: recorded 'completed', replayed 'failed'"
    )


def test_replay_of_a_run_whose_cassette_is_missing_is_one_line_and_exit_2(
    recorded: Path,
) -> None:
    cassette = recorded / "sessions" / "01" / "cassettes" / "step-02.json"
    cassette.unlink()
    done = plancontrol("replay", str(recorded), "-q", cwd=recorded.parent)
    assert done.returncode == 2
    assert done.stderr == (
        f"plancontrol: {cassette} is missing; restore it from a copy of the run folder or "
        "record again\n"
    )


def test_replay_names_where_the_outcome_differs(recorded: Path) -> None:
    cassette = recorded / "sessions" / "01" / "cassettes" / "step-02.json"
    cassette.write_text(cassette.read_text().replace("Three primes.", "Four primes."))
    done = plancontrol("replay", str(recorded), "-q", cwd=recorded.parent)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "plancontrol: replay differs from the recording, first in snapshot step-02 at "
        "$.outcomes[1].summary: recorded '# Report\\nThree primes.', replayed '# Report\\nFour "
        "primes.'"
    )


def test_replay_of_a_folder_that_is_not_a_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = plancontrol("replay", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"plancontrol: {tmp_path} is not a plancontrol run folder (no manifest.json); pass the "
        "folder that `plancontrol run` wrote\n"
    )


@pytest.mark.skipif(not local_model_available(), reason="needs the local extra")
def test_a_run_on_the_embedded_model_replays_identically(tmp_path: Path) -> None:
    done = plancontrol(
        "run",
        "Compute the first 20 prime numbers and save them to primes.txt",
        "--model",
        "local",
        "--attempts",
        "1",
        "--run-dir",
        "run",
        "-q",
        cwd=tmp_path,
    )
    # SmolLM2 at temperature 0 with a fixed seed plans one researcher step for this task
    assert done.returncode == 0, done.stderr
    context = json.loads((tmp_path / "run" / "context.json").read_text())
    outcomes = [(o["step"], o["agent"], o["status"]) for o in context["outcomes"]]
    assert outcomes == [(1, "researcher", "completed")]
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert "replay identical to the recording" in replayed.stdout


def test_check_names_exactly_the_steps_whose_prompts_changed(recorded: Path) -> None:
    manifest = recorded / "manifest.json"
    data = json.loads(manifest.read_text())
    data["settings"]["researcher_instructions"] = "Cite your sources."
    manifest.write_text(json.dumps(data))
    done = plancontrol("check", str(recorded), cwd=recorded.parent)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "plan: requests match",
        "review: requests match",
        "step-01: requests match",
        "step-02: requests changed: number 1 in step-02.json differs at $.messages[0].content "
        "from character 127: recorded '', replayed '\\n\\nFurther instructions:\\nCite your "
        "sources.'",
    ]


def test_check_goes_on_past_a_changed_step_and_names_only_the_changed_ones(
    recorded: Path,
) -> None:
    manifest = recorded / "manifest.json"
    data = json.loads(manifest.read_text())
    data["settings"]["engineer_instructions"] = "Use only the standard library."
    manifest.write_text(json.dumps(data))
    done = plancontrol("check", str(recorded), cwd=recorded.parent)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[:2] == ["plan: requests match", "review: requests match"]
    assert lines[2].startswith(
        "step-01: requests changed: number 1 in step-01.json differs at $.messages[0].content"
    )
    assert lines[3] == "step-02: requests match"


def test_check_of_an_unchanged_run_says_every_step_matches(recorded: Path) -> None:
    done = plancontrol("check", str(recorded), cwd=recorded.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "plan: requests match",
        "review: requests match",
        "step-01: requests match",
        "step-02: requests match",
    ]


def test_check_secrets_finds_keys_and_given_values(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("first line\nkey: sk-" + "A1b2" * 8 + "\n")
    (tmp_path / "log.txt").write_text("password is hunter2-hunter2\n")
    done = plancontrol(
        "check", "--secrets", str(tmp_path), "--value", "hunter2-hunter2", cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{tmp_path}/log.txt:1: a value given to look for",
        f"{tmp_path}/notes.md:2: something shaped like an API key",
    ]
    assert done.stderr == f"plancontrol: 2 possible secret(s) in {tmp_path}\n"


def test_check_secrets_passes_on_a_recorded_run(recorded: Path) -> None:
    done = plancontrol("check", "--secrets", str(recorded), "--value", SECRET, cwd=recorded.parent)
    assert done.returncode == 0, done.stdout
    assert done.stdout == f"no secrets found in {recorded}\n"


def test_rerun_code_executes_each_script_again_and_finds_them_as_recorded(recorded: Path) -> None:
    done = plancontrol("replay", str(recorded), "--rerun-code", "-q", cwd=recorded.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ("code: 2 script run(s) executed again, each as recorded")
    assert not (recorded.parent / "primes.txt").exists()  # it ran in a scratch folder


def test_rerun_code_names_a_script_whose_result_changed(tmp_path: Path) -> None:
    script = Code("import os\nprint(os.getpid())")
    answers = {**replies(), "engineer": [script], "judge": [Verdict("success", "printed")]}
    with OpenAITestServer(answers) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = plancontrol("replay", "run", "--rerun-code", "-q", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stdout.startswith("code ran differently: step 1 attempt 1: $.stdout: recorded '")
    assert again.stderr == (
        "plancontrol: 1 of 1 script run(s) ended differently from the recording\n"
    )


def test_rerun_code_names_a_file_the_scripts_make_otherwise(tmp_path: Path) -> None:
    script = Code("import os\nopen('pid.txt', 'w').write(str(os.getpid()))")
    answers = {**replies(), "engineer": [script], "judge": [Verdict("success", "written")]}
    with OpenAITestServer(answers) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert plancontrol("replay", "run", "-q", cwd=tmp_path).returncode == 0  # as recorded
    again = plancontrol("replay", "run", "--rerun-code", "-q", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stdout.splitlines() == [
        "code ran differently: work/pid.txt: the scripts run again left other bytes"
    ]
    assert again.stderr == "plancontrol: 1 file(s) the scripts made differ from the recording\n"

"""Keys stay out of run folders without breaking them, and out of the scripts' environment."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import msgspec
import pytest
from scripts import PRIMES, plancontrol, review, run_against

from plancontrol.core.answers import Code, Verdict
from plancontrol.core.context import decode_context
from plancontrol.core.settings import Settings
from plancontrol.handlers.secrets import Scrubber, is_weak, secret_values, without_secrets
from plancontrol.recording.message_store import read_cassette
from plancontrol.runs.folder import Manifest, manifest_reads, read_manifest
from plancontrol.runs.journal import Ran, read_journal
from plancontrol.testing import OpenAITestServer

SECRET = "sk-plancontrol-test-ENVIRON-4b1d7e"

PRINT_ENV = """\
import hashlib, json, os
def seen(name):
    value = os.environ.get(name)
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()
print(json.dumps({n: seen(n) for n in ("OPENAI_API_KEY", "HF_TOKEN", "SCRIPT_MARK")}))
"""
"""An engineer's script that says which variables it got (their sha256, never the values)."""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def printed(run: Path, session: str = "01") -> list[dict[str, str | None]]:
    """What each script run of a session printed, as the journal recorded it."""
    entries = read_journal(run / "sessions" / session / "journal.jsonl").unwrap()
    return [
        json.loads(e.result.stdout) for e in entries if isinstance(e, Ran) and e.result is not None
    ]


def test_placeholder_keys_are_no_secrets_and_real_ones_are() -> None:
    assert [is_weak(v) for v in ("none", "x", "test", "EMPTY", "sk-no-key-required")] == [True] * 5
    assert is_weak(SECRET) is False
    assert secret_values({"OPENAI_API_KEY": "none", "HF_TOKEN": SECRET}) == (SECRET,)
    scrub = Scrubber(("none", "x", SECRET))
    assert scrub.values == (SECRET,)
    assert scrub.text(f'{{"approval": "none", "max_x": 1, "key": "{SECRET}"}}') == (
        '{"approval": "none", "max_x": 1, "key": "<scrubbed>"}'
    )


def test_a_secret_that_is_also_a_setting_is_left_where_scrubbing_it_would_break_the_manifest() -> (
    None
):
    from plancontrol.handlers.routes import Route

    settings = Settings(approval="on_error", engineer_instructions="use on_error-x9 here")
    manifest = Manifest(
        format=2,
        plancontrol="0",
        ag2="0",
        task="note on_error-x9",
        settings=settings,
        default_route=Route(),
    )
    data = msgspec.json.encode(manifest)
    plain = Scrubber(("on_error", "on_error-x9")).data(data)
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value '<scrubbed>'"):
        manifest_reads(plain)  # what scrubbing substrings did to a run folder

    checked = Scrubber(("on_error", "on_error-x9")).checked(manifest_reads)(data)

    read = manifest_reads(checked)
    assert read.settings.approval == "on_error"
    assert read.task == "note <scrubbed>"
    assert read.settings.engineer_instructions == "use <scrubbed> here"


def test_scripts_keep_no_variable_that_may_hold_a_credential_but_those_passed() -> None:
    env = {
        "PATH": "/bin",
        "OPENAI_API_KEY": SECRET,
        "HF_TOKEN": "hf_abcdef123456",
        "AWS_SECRET_ACCESS_KEY": "abcdEFGH1234",
        "AWS_ACCESS_KEY_ID": "AKIA1234567",
        "DB_PASSWORD": "pw",
        "COPY_OF_THE_KEY": SECRET,
        "SHAPED": "Bearer " + "a" * 24,
        "SSH_AUTH_SOCK": "/tmp/agent",
    }
    assert without_secrets(env) == {"PATH": "/bin", "SSH_AUTH_SOCK": "/tmp/agent"}
    assert sorted(without_secrets(env, ("HF_TOKEN", "NOT_SET"))) == [
        "HF_TOKEN",
        "PATH",
        "SSH_AUTH_SOCK",
    ]


def failing_then_fine(script: str = "print('2 3 5')") -> dict[str, list[object]]:
    """Step 1's ``script`` fails once (so that a resume has something to do), then runs."""
    return {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code(script + "\nraise SystemExit(3)"), Code(script)],
        "judge": [Verdict("fix", "it exits with 3", "do not exit"), Verdict("success", "ok")],
        "researcher": ["# Report\nThree primes."],
    }


def fine(script: str = "print('2 3 5')") -> dict[str, list[object]]:
    """Every step succeeds at once, step 1 running ``script``."""
    replies = failing_then_fine(script)
    return {**replies, "engineer": replies["engineer"][1:], "judge": replies["judge"][1:]}


@pytest.mark.slow
def test_a_run_with_the_key_none_leaves_a_folder_show_resume_and_replay_read(
    tmp_path: Path,
) -> None:
    with OpenAITestServer(failing_then_fine()) as server:
        ran = run_against(server.base_url, "--attempts", "1", cwd=tmp_path, key="none")
        shown = plancontrol("show", "run", cwd=tmp_path, key="none")
        resumed = plancontrol("resume", "run", "-q", cwd=tmp_path, key="none")
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path, key="none")

    assert ran.returncode == 1, ran.stderr
    first = decode_context((tmp_path / "run" / "sessions" / "01" / "context.json").read_bytes())
    assert (
        first.unwrap()
        .outcomes[0]
        .error.startswith("step 1 failed after 1 attempt(s); last problem: it exits with 3;")
    )
    manifest = read_manifest(tmp_path / "run").unwrap()
    assert (manifest.settings.approval, manifest.settings.default_model) == ("none", "test-model")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "task: Compute primes"
    assert resumed.returncode == 0, resumed.stderr
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines()[-1].startswith("replay identical to the recording")
    plan = json.dumps(
        read_cassette(tmp_path / "run" / "sessions" / "01" / "cassettes" / "plan.json")
    )
    assert "<scrubbed>" not in plan
    assert '\\"model\\": \\"test-model\\"' in plan or '"model": "test-model"' in plan


@pytest.mark.slow
@pytest.mark.parametrize("key", ["x", "test", "EMPTY"])
def test_other_placeholder_keys_leave_the_folder_as_it_was_recorded(
    tmp_path: Path, key: str
) -> None:
    with OpenAITestServer(fine()) as server:
        ran = run_against(server.base_url, "-q", cwd=tmp_path, key=key)
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path, key=key)

    assert ran.returncode == 0, ran.stderr
    manifest = read_manifest(tmp_path / "run").unwrap()
    assert (manifest.settings.default_model, manifest.settings.max_n_attempts) == (
        "test-model",
        3,
    )
    assert replayed.returncode == 0, replayed.stderr
    found = [
        p
        for p in (tmp_path / "run").rglob("*")
        if p.is_file() and b"<scrubbed>" in (p.read_bytes())
    ]
    assert found == []


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's shell: a token, and a variable of no concern (the key comes with each run)."""
    monkeypatch.setenv("HF_TOKEN", "hf_plancontrol_test_token_1")
    monkeypatch.setenv("SCRIPT_MARK", "kept")


@pytest.mark.slow
def test_an_engineer_script_does_not_get_the_key_or_tokens(tmp_path: Path, shell: None) -> None:
    with OpenAITestServer(fine(PRINT_ENV)) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path, key=SECRET)

    assert done.returncode == 0, done.stderr
    assert printed(tmp_path / "run") == [
        {"OPENAI_API_KEY": None, "HF_TOKEN": None, "SCRIPT_MARK": sha("kept")}
    ]
    assert read_manifest(tmp_path / "run").unwrap().pass_env == ()


@pytest.mark.slow
def test_pass_env_gives_the_scripts_the_variables_named_and_resume_keeps_them(
    tmp_path: Path, shell: None
) -> None:
    with OpenAITestServer(failing_then_fine(PRINT_ENV)) as server:
        ran = run_against(
            server.base_url,
            "-q",
            "--attempts",
            "1",
            "--pass-env",
            "OPENAI_API_KEY",
            cwd=tmp_path,
            key=SECRET,
        )
        resumed = plancontrol("resume", "run", "-q", cwd=tmp_path, key=SECRET)

    assert ran.returncode == 1, ran.stderr
    assert resumed.returncode == 0, resumed.stderr
    seen = {"OPENAI_API_KEY": sha(SECRET), "HF_TOKEN": None, "SCRIPT_MARK": sha("kept")}
    assert printed(tmp_path / "run", "01") == [seen]
    assert printed(tmp_path / "run", "02") == [seen]  # the resumed session passed it too
    assert read_manifest(tmp_path / "run").unwrap().pass_env == ("OPENAI_API_KEY",)
    hits = [
        p
        for p in (tmp_path / "run").rglob("*")
        if p.is_file() and SECRET.encode() in (p.read_bytes())
    ]
    assert hits == []


@pytest.mark.slow
def test_pass_env_in_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_plancontrol_test_token_1")
    (tmp_path / "plancontrol.toml").write_text('[run]\npass_env = ["HF_TOKEN"]\n')
    with OpenAITestServer(fine(PRINT_ENV)) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path, key=SECRET)

    assert done.returncode == 0, done.stderr
    assert printed(tmp_path / "run") == [
        {
            "OPENAI_API_KEY": None,
            "HF_TOKEN": sha("hf_plancontrol_test_token_1"),
            "SCRIPT_MARK": None,
        }
    ]
    assert read_manifest(tmp_path / "run").unwrap().pass_env == ("HF_TOKEN",)


@pytest.mark.slow
def test_pass_env_that_is_not_a_list_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text("[run]\npass_env = 3\n")
    done = run_against("http://127.0.0.1:9/v1", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"plancontrol: pass_env from {Path('plancontrol.toml')} [run] must be a list of "
        "variable names, got 3\n"
    )
    assert not (tmp_path / "run").exists()

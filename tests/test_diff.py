"""``plancontrol diff``: two runs side by side; exactly the steps that changed are named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scripts import OK, engineer_plan, plancontrol, review

from plancontrol.app.diff.compare import compare, compare_step, plan_changes
from plancontrol.app.diff.record import Attempt, Request, RunRecord, StepRecord, load_run
from plancontrol.core.answers import Code
from plancontrol.core.plan import Step
from plancontrol.testing import OpenAITestServer

TEACHING = "Explain it to {audience}."


def _step(number: int, **changes: object) -> StepRecord:
    fields: dict[str, object] = {
        "step": number,
        "agent": "engineer",
        "status": "completed",
        "requests": (Request(role="engineer", attempt=1, sha256="r1", body="{}"),),
        "attempts": (
            Attempt(
                attempt=1,
                code="print(1)",
                exit_code=0,
                timed_out=False,
                stdout="1\n",
                stderr="",
                failure="",
            ),
        ),
        "summary": "printed 1",
        "files": (("out.txt", "f1"),),
        "tokens": 10,
        "cost_usd": 0.5,
        "seconds": 1.0,
    }
    return StepRecord(**{**fields, **changes})  # type: ignore[arg-type]


def test_compare_step_names_each_aspect_that_differs_and_nothing_else() -> None:
    same = _step(1)
    assert compare_step(same, _step(1, seconds=9.0, cost_usd=2.0)).changed == ()
    other_request = (Request(role="engineer", attempt=1, sha256="r2", body="{}"),)
    found = compare_step(same, _step(1, requests=other_request))
    assert (found.changed, found.requests) == (("requests",), ("engineer 1",))
    ran = same.attempts[0]
    recoded = (Attempt(**{**_fields(ran), "code": "print(2)"}),)
    assert compare_step(same, _step(1, attempts=recoded)).changed == ("code",)
    reprinted = (Attempt(**{**_fields(ran), "stdout": "2\n"}),)
    assert compare_step(same, _step(1, attempts=reprinted)).changed == ("outputs",)
    assert compare_step(same, _step(1, summary="other")).changed == ("summary",)
    refiled = compare_step(same, _step(1, files=(("out.txt", "f2"), ("new.png", "f3"))))
    assert (refiled.changed, refiled.files) == (("files",), ("out.txt", "new.png"))
    assert compare_step(same, None).changed == ("requests", "code", "outputs", "summary", "files")


def _fields(attempt: Attempt) -> dict[str, object]:
    return {f: getattr(attempt, f) for f in attempt.__struct_fields__}


def test_plan_changes_and_the_diff_verdict() -> None:
    count = Step(sub_task="count", agent="engineer", bullet_points=("fast",))
    recount = Step(sub_task="count", agent="engineer", bullet_points=("slow",))
    assert [(c.step, c.field, c.a, c.b) for c in plan_changes((count,), (recount,))] == [
        (1, "instructions", "fast", "slow")
    ]
    a = RunRecord(folder="a", task="t", plan=(count,), steps=(_step(0), _step(1)))
    b = RunRecord(folder="b", task="t", plan=(count,), steps=(_step(0), _step(1, summary="x")))
    assert (compare(a, a).same, compare(a, a).changed_steps) == (True, ())
    assert (compare(a, b).same, compare(a, b).changed_steps) == (False, (1,))


def _diff(cwd: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = plancontrol("diff", *args, "--json", cwd=cwd)
    return done.returncode, json.loads(done.stdout)


@pytest.mark.slow
def test_diff_of_a_fork_with_another_audience_names_step_2_and_a_copy_matches(
    tmp_path: Path,
) -> None:
    plan = engineer_plan(2)
    replies = {
        "planner": [plan, plan],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("print(1)"), Code("print(2)"), Code("print(2)")],
        "judge": [OK, OK, OK],
    }
    with OpenAITestServer(replies) as server:
        args = ("--base-url", server.base_url, "--model", "test-model", "-q")
        sets = ("--set", "audience=students", "--set", f"settings.engineer_instructions={TEACHING}")
        done = plancontrol("run", "Teach primes", *args, "--run-dir", "run", *sets, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        forked = plancontrol(
            "fork", "run", "--from-step", "2", "--into", "branch",
            "--set", "audience=teachers", "-q", cwd=tmp_path,
        )  # fmt: skip
        assert forked.returncode == 0, forked.stderr
    # the fork's engineer got the same code to run: only its request for step 2 changed
    code, found = _diff(tmp_path, "run", "branch")
    assert (code, found["same"], found["changed_steps"], found["first_changed_step"]) == (
        1, False, [2], 2,
    )  # fmt: skip
    steps = {s["step"]: s for s in found["steps"]}  # type: ignore[attr-defined]
    assert [(s["step"], s["changed"], s["requests"]) for s in steps.values()] == [
        (0, [], []),
        (1, [], []),
        (2, ["requests"], ["engineer 1"]),
    ]
    assert found["plan"] == []
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    code, same = _diff(tmp_path, "run", "copy")
    assert (code, same["same"], same["changed_steps"]) == (0, True, [])
    _check_records_and_page(tmp_path)


def _check_records_and_page(tmp_path: Path) -> None:
    """The loaded runs hold each run's own engineer instructions in step 2's request, and
    the page shows that request from both sides, escaped, with nothing fetched."""
    run, branch = load_run(tmp_path / "run").unwrap(), load_run(tmp_path / "branch").unwrap()
    asked = [(r.role, r.attempt, "to teachers." in r.body) for r in branch.steps[2].requests]
    assert asked == [("engineer", 1, True), ("judge", 1, False)]
    assert "Explain it to students." in run.steps[2].requests[0].body
    assert [a.stdout for a in run.steps[2].attempts] == ["2\n"]
    assert [a.code for a in branch.steps[2].attempts] == ["print(2)"]
    table = plancontrol("diff", "run", "branch", "--html", "diff.html", cwd=tmp_path)
    assert table.returncode == 1, table.stderr
    assert "the runs differ in step 2; first changed step: step 2" in table.stdout
    page = (tmp_path / "diff.html").read_text()
    assert page.count("<h3>") == 1
    assert "<h3>step 2: request engineer 1</h3>" in page
    assert "Explain it to teachers." in page
    assert "Explain it to students." in page
    assert [tag for tag in ("src=", "href=", "<link", "<script", "@import") if tag in page] == []


@pytest.mark.slow
def test_diff_refuses_bad_input_in_one_line_and_overwrites_nothing(tmp_path: Path) -> None:
    done = plancontrol("demo", "--run-dir", "run", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "notes.txt").write_text("kept")
    refused = {
        "not a run": plancontrol("diff", "run", "elsewhere", cwd=tmp_path),
        "not a page": plancontrol("diff", "run", "run", "--html", "notes.txt", cwd=tmp_path),
    }
    assert {k: (d.returncode, d.stdout, d.stderr) for k, d in refused.items()} == {
        "not a run": (
            2,
            "",
            "plancontrol: elsewhere is not a folder; pass the folder that `plancontrol run` "
            "wrote\n",
        ),
        "not a page": (
            2,
            "",
            "plancontrol: --html notes.txt: it exists and is not an .html page; give a new "
            "file name\n",
        ),
    }
    assert (tmp_path / "notes.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "run"]

"""The public surface is pinned: what users import does not change by accident."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import plancontrol
import plancontrol.testing

PUBLIC = [
    "CONTROL",
    "PLANNING",
    "PLANNING_AND_CONTROL",
    "Abort",
    "Aborted",
    "AllSignals",
    "ApprovalRequest",
    "Approve",
    "AttemptsExhausted",
    "BudgetExceeded",
    "CallableApprover",
    "CallbackEvents",
    "CallbackSignals",
    "Cancelled",
    "Context",
    "Decision",
    "Effects",
    "Error",
    "Event",
    "Execution",
    "ExecutionFailure",
    "FanOut",
    "Halt",
    "Handlers",
    "InvalidDecision",
    "InvalidPlan",
    "InvalidReply",
    "InvalidSettings",
    "Message",
    "ModelFailure",
    "Phase",
    "PhaseResult",
    "Pipeline",
    "Plan",
    "PlanRejected",
    "Problem",
    "Reject",
    "Reply",
    "Report",
    "Request",
    "RestartOutOfRange",
    "Retry",
    "Review",
    "Revise",
    "Role",
    "RoleModel",
    "RoundsExhausted",
    "Script",
    "Settings",
    "Skip",
    "Step",
    "StepOutcome",
    "TimingRow",
    "UsageRow",
    "World",
    "__version__",
    "check_plan",
    "decode_context",
    "encode_context",
    "halt",
    "insert_after",
    "load_settings",
    "one_shot",
    "plan_text",
    "run_pipeline",
    "summarize",
    "batch",
    "fork",
    "repeat",
    "replay",
    "replay_many",
    "report",
    "resume",
    "run",
]

DOUBLES = [
    "Drop",
    "Empty",
    "Exchange",
    "FixedClock",
    "FunctionAgents",
    "Malformed",
    "MemoryCheckpoints",
    "MemoryWorkspace",
    "OpenAITestServer",
    "RecordingEvents",
    "ScriptedAgents",
    "ScriptedApprover",
    "ScriptedExecutor",
    "ScriptedSignals",
    "Slow",
    "Status",
    "ToolCall",
    "ToolCalls",
    "role_of",
    "scripted_effects",
    "snapshot",
]


def test_package_exports_are_pinned() -> None:
    assert sorted(plancontrol.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(plancontrol, name), name


def test_testing_exports_the_doubles() -> None:
    assert sorted(plancontrol.testing.__all__) == sorted(DOUBLES)


def test_every_module_states_its_job_in_one_line_and_its_exports() -> None:
    for info in pkgutil.walk_packages(plancontrol.__path__, "plancontrol."):
        module = importlib.import_module(info.name)
        doc = module.__doc__ or ""
        assert doc, f"{info.name}: needs a docstring"
        assert "\n" not in doc.strip(), f"{info.name}: its docstring should be one line"
        if not info.name.rpartition(".")[2].startswith("_") and not info.ispkg:
            exported = getattr(module, "__all__", None)
            assert exported is not None, f"{info.name} has no __all__"
            for name in exported:
                assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"


@pytest.mark.slow
def test_the_library_entry_points_mirror_the_commands_and_load_on_first_use() -> None:
    import subprocess
    import sys

    from plancontrol.app import api

    assert (plancontrol.run, plancontrol.replay, plancontrol.resume, plancontrol.fork) == (
        api.run,
        api.replay,
        api.resume,
        api.fork,
    )
    assert plancontrol.report is api.report
    assert plancontrol.replay_many is api.replay_many
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, plancontrol; print('vcr' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout == "False\n"  # importing plancontrol does not load the recorder

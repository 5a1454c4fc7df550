"""The control phase alone: dispatch, the engineer loop, reports, cancellation, resume."""

from __future__ import annotations

from msgspec.structs import replace
from scripts import OK, PRIMES, contents, engineer_plan, fix

from plancontrol import (
    AttemptsExhausted,
    BudgetExceeded,
    Cancelled,
    Context,
    Execution,
    ExecutionFailure,
    InvalidPlan,
    ModelFailure,
    Plan,
    PlanRejected,
    Reject,
    RestartOutOfRange,
    Revise,
    RoundsExhausted,
    Settings,
    Step,
    StepOutcome,
)
from plancontrol.core.answers import Code, Install, Verdict
from plancontrol.core.phases.control import run_steps
from plancontrol.core.prompts import CODE_LIMIT, OUTPUT_LIMIT
from plancontrol.testing import (
    FixedClock,
    ScriptedAgents,
    ScriptedApprover,
    ScriptedExecutor,
    ScriptedSignals,
    scripted_effects,
)

ENGINEER_ONLY = Plan((PRIMES.steps[0],))


def test_engineer_step_runs_code_and_records_a_completed_outcome() -> None:
    executor = ScriptedExecutor([Execution(exit_code=0, stdout="2 3 5", files=("primes.txt",))])
    fx = scripted_effects(
        {"engineer": [Code("print(2, 3, 5)")], "judge": [OK]},
        executor=executor,
        clock=FixedClock(100.0, 1.0),
    )
    ctx = run_steps(Context(task="primes", plan=ENGINEER_ONLY), fx).unwrap()
    (outcome,) = ctx.outcomes
    assert outcome == StepOutcome(
        step=1,
        agent="engineer",
        status="completed",
        code_status="succeeded",
        attempts=1,
        summary=outcome.summary,
        files=("codebase/step_1.py", "primes.txt"),
    )
    assert outcome.summary.startswith("the primes were computed and saved\n\nCode:")
    assert "print(2, 3, 5)" in outcome.summary
    assert "2 3 5" in outcome.summary
    (script,) = executor.scripts
    assert (script.step, script.attempt, script.filename) == (1, 1, "codebase/step_1.py")
    assert script.code == "print(2, 3, 5)"
    engineer = fx.agents.requests_of("engineer")[0]
    assert "You carry out step 1 of 1: Compute the first 20 primes" in engineer.messages[0].content
    assert "- save to primes.txt" in engineer.messages[0].content
    judge = fx.agents.requests_of("judge")[0].messages[0].content
    assert "Execution: exit code 0" in judge
    assert "stdout:\n2 3 5" in judge
    assert [(t.phase, t.step, t.seconds) for t in ctx.timings] == [("control", 1, 1.0)]


def test_step_succeeds_on_its_second_attempt_with_the_fix_suggestion() -> None:
    executor = ScriptedExecutor(
        [
            Execution(exit_code=1, stderr="NameError: name 'prim' is not defined"),
            Execution(exit_code=0, stdout="done"),
        ]
    )
    fx = scripted_effects(
        {
            "engineer": [Code("print(prim)"), Code("print('done')")],
            "judge": [fix("define prim before printing it"), OK],
        },
        executor=executor,
    )
    ctx = run_steps(Context(task="t", plan=ENGINEER_ONLY), fx).unwrap()
    assert ctx.outcomes[0].attempts == 2
    assert ctx.outcomes[0].status == "completed"
    second = contents(fx.agents.requests_of("engineer"))[1]
    assert "Your previous attempt:" in second
    assert "print(prim)" in second
    assert "NameError: name 'prim' is not defined" in second
    assert "Fix suggestion:\ndefine prim before printing it" in second
    assert [s.attempt for s in executor.scripts] == [1, 2]


def test_a_rambling_script_is_shown_back_clipped_so_the_next_prompt_fits() -> None:
    # seen on llama.cpp with SmolLM2: a 7,000-token script, sent back whole to the judge and
    # in the retry, overflowed the model's 8192-token window and stopped the run
    rambling = "x = 1  # padding\n" * 3000  # 51,000 characters
    executor = ScriptedExecutor(
        [Execution(exit_code=1, stderr="boom"), Execution(exit_code=0, stdout="done")]
    )
    fx = scripted_effects(
        {
            "engineer": [Code(rambling), Code("print('done')")],
            "judge": [fix("shorter"), OK],
        },
        executor=executor,
    )
    ctx = run_steps(Context(task="t", plan=ENGINEER_ONLY), fx).unwrap()
    assert ctx.outcomes[0].status == "completed"
    assert executor.scripts[0].code == rambling  # the script itself runs whole
    judge = contents(fx.agents.requests_of("judge"))[0]
    retry = contents(fx.agents.requests_of("engineer"))[1]
    for prompt in (judge, retry):
        assert "x = 1  # padding" in prompt
        assert "[…]" in prompt
        assert len(prompt) < CODE_LIMIT + 2 * OUTPUT_LIMIT + 2000


def test_control_stops_after_max_attempts() -> None:
    plan = engineer_plan(2)
    executor = ScriptedExecutor([Execution(exit_code=1, stderr="boom")] * 2)
    fx = scripted_effects(
        {"engineer": [Code("x")] * 2, "judge": [fix("a"), fix("b")]}, executor=executor
    )
    ctx = Context(task="t", plan=plan, settings=Settings(max_n_attempts=2))
    halt = run_steps(ctx, fx).failure()
    assert halt.error == AttemptsExhausted(step=1, attempts=2, last_problem="the output is wrong")
    (outcome,) = halt.context.outcomes
    assert (outcome.status, outcome.code_status, outcome.attempts) == ("failed", "failed", 2)
    assert outcome.error == halt.message
    assert len(executor.scripts) == 2
    assert all(r.step == 1 for r in fx.agents.requests)  # step 2 never started


def test_code_status_is_kept_apart_from_step_status() -> None:
    # The code ran (exit 0) but the judge says the step's goal is not met.
    executor = ScriptedExecutor([Execution(exit_code=0, stdout="wrong")])
    fx = scripted_effects(
        {"engineer": [Code("x")], "judge": [fix("print primes")]}, executor=executor
    )
    ctx = Context(task="t", plan=ENGINEER_ONLY, settings=Settings(max_n_attempts=1))
    (outcome,) = run_steps(ctx, fx).failure().context.outcomes
    assert (outcome.status, outcome.code_status) == ("failed", "succeeded")


def test_timed_out_code_is_reported_as_such() -> None:
    executor = ScriptedExecutor([Execution(exit_code=-9, timed_out=True), Execution(exit_code=0)])
    fx = scripted_effects(
        {
            "engineer": [Code("while True: pass"), Code("print(1)")],
            "judge": [fix("do not loop forever"), OK],
        },
        executor=executor,
    )
    ctx = run_steps(Context(task="t", plan=ENGINEER_ONLY), fx).unwrap()
    judge = contents(fx.agents.requests_of("judge"))
    assert "Execution: timed out" in judge[0]
    assert ctx.outcomes[0].code_status == "succeeded"


def test_missing_package_goes_through_the_installer_then_the_engineer_again() -> None:
    executor = ScriptedExecutor(
        [
            Execution(exit_code=1, stderr="ModuleNotFoundError: No module named 'sympy'"),
            Execution(exit_code=0, stdout="ok"),
        ]
    )
    fx = scripted_effects(
        {
            "engineer": [Code("import sympy"), Code("import sympy")],
            "judge": [Verdict("install", "sympy is missing", packages=("sympy",)), OK],
            "installer": [Install(("sympy",))],
        },
        executor=executor,
    )
    ctx = run_steps(Context(task="t", plan=ENGINEER_ONLY), fx).unwrap()
    assert executor.installs == [(1, ("sympy",))]
    assert "installed sympy" in contents(fx.agents.requests_of("engineer"))[1]
    assert ctx.outcomes[0].attempts == 2
    assert "sympy" in contents(fx.agents.requests_of("installer"))[0]


def test_researcher_step_saves_its_report_and_carries_it() -> None:
    plan = Plan((Step("Report", "researcher"), Step("Ideas", "idea_maker")))
    fx = scripted_effects(
        {"researcher": ["# Findings\nPrimes are odd."], "idea_maker": ["- try twin primes"]}
    )
    settings = Settings(researcher_filename="findings.md", researcher_instructions="Cite data.")
    ctx = run_steps(Context(task="t", plan=plan, settings=settings), fx).unwrap()
    assert fx.workspace.files["reports/step_1_findings.md"] == "# Findings\nPrimes are odd."
    assert fx.workspace.files["reports/step_2_idea_maker.md"] == "- try twin primes"
    assert ctx.outcomes[0].files == ("reports/step_1_findings.md",)
    researcher = fx.agents.requests_of("researcher")[0]
    assert "Cite data." in researcher.system
    idea = contents(fx.agents.requests_of("idea_maker"))[0]
    assert "Results of the previous steps:\n### Step 1\n# Findings\nPrimes are odd." in idea


def test_each_step_takes_sub_task_instructions_and_agent_from_the_plan() -> None:
    plan = Plan(
        (Step("Make data", "engineer", ("seed 1",)), Step("Explain", "researcher", ("short",)))
    )
    fx = scripted_effects({"engineer": [Code("x")], "judge": [OK], "researcher": ["r"]})
    run_steps(Context(task="t", plan=plan), fx).unwrap()
    assert [(r.role, r.step) for r in fx.agents.requests] == [
        ("engineer", 1),
        ("judge", 1),
        ("researcher", 2),
    ]
    researcher = contents(fx.agents.requests_of("researcher"))[0]
    assert "step 2 of 2: Explain" in researcher
    assert "- short" in researcher
    assert "seed 1" not in researcher.split("Results of the previous steps")[0]


def test_cancellation_between_steps_keeps_finished_steps() -> None:
    signals = ScriptedSignals(cancel_before=2)
    fx = scripted_effects({"engineer": [Code("x")] * 3, "judge": [OK] * 3}, signals=signals)
    halt = run_steps(Context(task="t", plan=engineer_plan(3)), fx).failure()
    assert halt.error == Cancelled(step=2)
    assert halt.context.completed_steps == (1,)
    assert signals.checked == [1, 2]
    assert (
        halt.message
        == "cancelled before step 2: cancelled by request; resume to continue from there"
    )


def test_resumed_context_skips_completed_steps_and_keeps_their_summaries() -> None:
    done = StepOutcome(
        step=1, agent="engineer", status="completed", attempts=1, summary="step one made primes.txt"
    )
    fx = scripted_effects({"engineer": [Code("y")], "judge": [OK]})
    ctx = run_steps(Context(task="t", plan=engineer_plan(2), outcomes=(done,)), fx).unwrap()
    assert [r.step for r in fx.agents.requests] == [2, 2]
    assert ctx.outcomes[0] == done
    assert ctx.completed_steps == (1, 2)
    assert "### Step 1\nstep one made primes.txt" in contents(fx.agents.requests)[0]


def test_resume_at_step_k_keeps_the_summaries_of_the_steps_before_k() -> None:
    first = scripted_effects(
        {
            "engineer": [Code(f"print({i})") for i in range(3)],
            "judge": [Verdict("success", f"result {i}") for i in (1, 2, 3)],
        }
    )
    full = run_steps(Context(task="t", plan=engineer_plan(3)), first).unwrap()
    restarted = replace(full, settings=replace(full.settings, restart_at_step=2))
    again = scripted_effects(
        {"engineer": [Code("print('b')"), Code("print('c')")], "judge": [OK, OK]}
    )
    ctx = run_steps(restarted, again).unwrap()
    assert [r.step for r in again.agents.requests] == [2, 2, 3, 3]
    first_request = contents(again.agents.requests)[0]
    assert "### Step 1\nresult 1" in first_request
    assert "result 2" not in first_request
    assert ctx.outcomes[0] == full.outcomes[0]
    assert [o.step for o in ctx.outcomes] == [1, 2, 3]


def test_restart_beyond_the_plan_is_a_clear_error() -> None:
    ctx = Context(task="t", plan=engineer_plan(2), settings=Settings(restart_at_step=5))
    halt = run_steps(ctx, scripted_effects()).failure()
    assert halt.error == RestartOutOfRange(
        step=5, n_steps=2, detail="the plan has 2 step(s); pick a step from 1 to 2"
    )
    assert (
        halt.message == "cannot restart at step 5: the plan has 2 step(s); pick a step from 1 to 2"
    )


def test_restart_after_an_unfinished_step_is_a_clear_error() -> None:
    ctx = Context(task="t", plan=engineer_plan(3), settings=Settings(restart_at_step=3))
    halt = run_steps(ctx, scripted_effects()).failure()
    assert halt.message == "cannot restart at step 3: step 1 has not completed; restart at step 1"


def test_control_without_a_plan_is_an_error() -> None:
    halt = run_steps(Context(task="t"), scripted_effects()).failure()
    assert isinstance(halt.error, InvalidPlan)
    assert "there is no plan" in halt.message


def test_model_failure_in_a_step_stops_with_that_error() -> None:
    fx = scripted_effects({"engineer": [ModelFailure(role="engineer", step=1, detail="HTTP 500")]})
    halt = run_steps(Context(task="t", plan=ENGINEER_ONLY), fx).failure()
    assert halt.message == "model call for engineer (step 1) failed: HTTP 500"
    assert halt.context.outcomes[0].status == "failed"


def test_executor_failure_stops_with_that_error() -> None:
    executor = ScriptedExecutor([ExecutionFailure(step=1, detail="python not found")])
    fx = scripted_effects({"engineer": [Code("x")]}, executor=executor)
    halt = run_steps(Context(task="t", plan=ENGINEER_ONLY), fx).failure()
    assert halt.error == ExecutionFailure(step=1, detail="python not found")


def test_step_is_cut_off_after_max_rounds_control() -> None:
    fx = scripted_effects({"engineer": [Code("x")] * 3, "judge": [fix("again")] * 3})
    settings = Settings(max_rounds_control=3, max_n_attempts=5)
    halt = run_steps(Context(task="t", plan=ENGINEER_ONLY, settings=settings), fx).failure()
    assert halt.error == RoundsExhausted(phase="control", step=1, limit=3)
    assert len(fx.agents.requests) == 3


def test_cost_budget_stops_the_run_with_the_spend() -> None:
    replies = {"engineer": [Code("x")] * 2, "judge": [OK] * 2}
    agents = ScriptedAgents(replies, price_per_token=0.001)
    fx = scripted_effects(agents=agents)
    ctx = Context(task="t", plan=engineer_plan(2), settings=Settings(max_cost_usd=0.1))
    halt = run_steps(ctx, fx).failure()
    assert isinstance(halt.error, BudgetExceeded)
    assert halt.error.limit_usd == 0.1
    assert halt.error.spent_usd > 0.1
    spent = sum(r.cost_usd or 0 for r in halt.context.usage)
    assert halt.error.spent_usd == spent


def test_before_each_step_approval_can_revise_and_reject() -> None:
    approver = ScriptedApprover([Revise("print more digits"), Reject("enough")])
    fx = scripted_effects({"engineer": [Code("x")], "judge": [OK]}, approver=approver)
    ctx = Context(task="t", plan=engineer_plan(2), settings=Settings(approval="before_each_step"))
    halt = run_steps(ctx, fx).failure()
    assert halt.error == PlanRejected(reason="step 2 rejected: enough")
    assert "Feedback from the approver: print more digits" in contents(fx.agents.requests)[0]
    assert [(r.kind, r.step) for r in approver.requests] == [("step", 1), ("step", 2)]
    assert halt.context.completed_steps == (1,)


def test_a_custom_code_role_asks_with_its_own_name_and_model() -> None:
    from plancontrol import Role, RoleModel

    settings = Settings(
        roles=(Role("coder", "writes code", "code"),),
        role_models=(RoleModel("coder", "big-model"),),
        engineer_instructions="only for the engineer",
    )
    fx = scripted_effects({"coder": [Code("print(1)")], "judge": [OK]})
    plan = Plan((Step("Fit", "coder"),))
    ctx = run_steps(Context(task="t", plan=plan, settings=settings), fx).unwrap()
    assert [(r.role, r.model) for r in fx.agents.requests] == [
        ("coder", "big-model"),
        ("judge", "gpt-4o-mini"),
    ]
    assert fx.agents.requests[0].system.startswith("You are the coder.")
    assert "only for the engineer" not in fx.agents.requests[0].system
    assert ctx.usage[0].role == "coder"
    assert ctx.outcomes[0].agent == "coder"


def test_a_registered_role_gets_its_own_instructions() -> None:
    from plancontrol import Role

    critic = Role("critic", "finds flaws in the results", instructions="Be harsh but fair.")
    settings = Settings(roles=(*Settings().roles, critic))
    fx = scripted_effects({"critic": ["- the sieve bound is too small"]})
    plan = Plan((Step("Criticise the results", "critic"),))
    ctx = run_steps(Context(task="t", plan=plan, settings=settings), fx).unwrap()
    system = fx.agents.requests[0].system
    assert system.startswith("You are the critic, the agent who finds flaws in the results.")
    assert system.endswith("Further instructions:\nBe harsh but fair.")
    assert fx.workspace.files["reports/step_1_critic.md"] == "- the sieve bound is too small"
    assert ctx.outcomes[0].status == "completed"


def test_a_role_with_a_reply_schema_is_reasked_until_it_replies_with_an_object() -> None:
    from plancontrol import Role

    schema = '{"type": "object", "properties": {"ideas": {"type": "array"}}}'
    maker = Role("maker", "proposes ideas", reply_schema=schema)
    settings = Settings(roles=(maker,))
    fx = scripted_effects({"maker": ["- an idea in prose", {"ideas": ["twin primes"]}]})
    plan = Plan((Step("Propose ideas", "maker"),))
    ctx = run_steps(Context(task="t", plan=plan, settings=settings), fx).unwrap()
    first, second = fx.agents.requests
    assert first.schema == {"type": "object", "properties": {"ideas": {"type": "array"}}}
    assert "JSON is malformed" in second.messages[-1].content
    assert (
        fx.workspace.files["reports/step_1_maker.json"]
        == '{\n  "ideas": [\n    "twin primes"\n  ]\n}'
    )
    assert ctx.outcomes[0].files == ("reports/step_1_maker.json",)

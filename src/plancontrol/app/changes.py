"""What a resume or fork changes (models, limits, settings) and what is refused before paying."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import msgspec
from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.app.routing import LOCAL, ModelChoice, ModelPlan, plan_models, recorded_routes
from plancontrol.core.context import Context
from plancontrol.core.errors import (
    AttemptsExhausted,
    BudgetExceeded,
    Error,
    InvalidPlan,
    InvalidReply,
    PlanRejected,
    RoundsExhausted,
)
from plancontrol.core.problem import Problem
from plancontrol.core.settings import Settings
from plancontrol.handlers.policy import ReasoningEffort
from plancontrol.handlers.routes import Provider, Route, StructuredMode
from plancontrol.runs.folder import Manifest, RunOptions, Session

__all__ = [
    "EXTRAS",
    "ChangeArgs",
    "Changes",
    "continue_command",
    "missing_extra",
    "model_settings",
    "models_after",
    "next_step",
    "options_of",
    "recorded_options",
    "runnable",
]

EXTRAS: Mapping[Provider, tuple[str, str]] = {
    "anthropic": ("anthropic", "ag2[anthropic]"),
    "gemini": ("google.genai", "ag2[gemini]"),
}
"""For a provider ag2 reaches through an optional package: that package, and the pip extra
that installs it."""


class ChangeArgs(TypedDict, total=False):
    """What ``plancontrol.resume`` and ``plancontrol.fork`` take as keyword arguments to
    change how the run goes on (each as ``Changes`` has it)."""

    model: str | None
    role_models: Sequence[tuple[str, str]]
    base_url: str | None
    structured: StructuredMode | None
    timeout: float | None
    max_retries: int | None
    code_timeout: float | None
    allow_install: bool | None
    settings: Mapping[str, Any] | None
    sets: Sequence[str]
    instructions: str | None
    reasoning_effort: ReasoningEffort | None
    max_tokens: int | None
    python: str | None
    pass_env: Sequence[str] | None


class Changes(msgspec.Struct, frozen=True, kw_only=True):
    """What ``resume`` or ``fork`` is told to change; None (or empty) keeps what the run
    recorded. ``base_url=""`` drops a recorded server (the model's provider is used).

    >>> Changes(timeout=30).touches_models, Changes(settings={"max_n_attempts": 5}).touches_models
    (True, False)
    """

    model: str | None = None
    role_models: tuple[tuple[str, str], ...] = ()
    base_url: str | None = None
    structured: StructuredMode | None = None
    timeout: float | None = None
    max_retries: int | None = None
    code_timeout: float | None = None
    allow_install: bool | None = None
    settings: dict[str, Any] = {}
    """Workflow settings by name (``{"max_n_attempts": 5}``), applied before ``sets``."""
    sets: tuple[str, ...] = ()
    """``KEY=VALUE`` items: a shared variable, or ``settings.NAME=VALUE``."""
    instructions: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    max_tokens: int | None = None
    """The reply cap from now on (None: as recorded)."""
    python: str | None = None
    """The scripts' interpreter from now on (its description is asked again)."""
    pass_env: tuple[str, ...] | None = None
    """The credential-named variables the scripts get from now on (None: as recorded)."""

    @classmethod
    def of(cls, given: ChangeArgs) -> Changes:
        """The changes among the keyword arguments of ``resume`` or ``fork``.

        >>> Changes.of({"sets": ["n=3"], "settings": {"max_cost_usd": 2.0}}).sets
        ('n=3',)
        """
        passed = given.get("pass_env")
        return cls(
            model=given.get("model"),
            role_models=tuple(given.get("role_models", ())),
            base_url=given.get("base_url"),
            structured=given.get("structured"),
            timeout=given.get("timeout"),
            max_retries=given.get("max_retries"),
            code_timeout=given.get("code_timeout"),
            allow_install=given.get("allow_install"),
            settings=dict(given.get("settings") or {}),
            sets=tuple(given.get("sets", ())),
            instructions=given.get("instructions"),
            reasoning_effort=given.get("reasoning_effort"),
            max_tokens=given.get("max_tokens"),
            python=given.get("python"),
            pass_env=None if passed is None else tuple(passed),
        )

    @property
    def touches_models(self) -> bool:
        """Whether the models, or how they are reached, change."""
        return bool(
            self.model is not None
            or self.role_models
            or self.base_url is not None
            or self.structured is not None
            or self.timeout is not None
            or self.max_retries is not None
            or self.reasoning_effort is not None
            or self.max_tokens is not None
        )


def recorded_options(manifest: Manifest, sessions: tuple[Session, ...]) -> RunOptions:
    """How the run last reached its models and ran scripts: as its newest session that
    says so recorded it, else as the manifest has it (folders written before sessions did)."""
    for session in reversed(sessions):
        if session.options is not None:
            return session.options
    return manifest.options


def models_after(
    settings: Settings,
    options: RunOptions,
    changes: Changes,
    env: Mapping[str, str],
    local_available: bool,
    local_hint: str,
) -> Result[ModelPlan, Problem]:
    """The models a resume or fork uses: the recorded ones (keys from ``env`` again), or,
    when ``changes`` touch them, those chosen as ``run`` chooses, every option not given
    taken from the record."""
    role_models = tuple((rm.role, rm.model) for rm in settings.role_models)
    if not changes.touches_models:
        found = recorded_routes(settings.default_model, options.default_route, options.routes, env)
        return found.map(
            lambda found: ModelPlan(
                default_model=settings.default_model,
                role_models=role_models,
                default=found[0],
                routes=found[1],
                local=found[0].embedded,
            )
        )
    old = options.default_route
    moved = changes.model is not None or changes.base_url is not None
    choice = ModelChoice(
        model=changes.model or (LOCAL if old.embedded else settings.default_model),
        role_models=tuple({**dict(role_models), **dict(changes.role_models)}.items()),
        base_url=(changes.base_url if changes.base_url is not None else old.base_url) or None,
        structured=changes.structured or (None if moved or old.negotiate else old.structured),
        timeout=old.timeout if changes.timeout is None else changes.timeout,
        max_retries=old.max_retries if changes.max_retries is None else changes.max_retries,
        reasoning_effort=changes.reasoning_effort or old.reasoning_effort,
        max_tokens=changes.max_tokens or (None if moved else old.max_tokens),
        overrides=old.overrides,
        prices=old.prices,
    )
    return plan_models(choice, env, local_available, local_hint)


def missing_extra(routes: tuple[Route, ...]) -> str | None:
    """Why a route cannot be used: its provider's optional package is not installed."""
    import importlib.util

    for route in routes:
        if route.base_url is not None or route.provider not in EXTRAS:
            continue
        module, extra = EXTRAS[route.provider]
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:  # the parent package (google) is missing too
            found = None
        if found is None:
            return (
                f"{route.provider} models need the {extra} extra, which is not installed: "
                f"pip install '{extra}'"
            )
    return None


def runnable(planned: Result[ModelPlan, Problem]) -> Result[ModelPlan, Problem]:
    """The planned models, unless they cannot run at all (found before any model is asked
    anything): the embedded model asked for json_schema, or a provider's missing extra.

    >>> from plancontrol.app.routing import _local
    >>> print(runnable(Success(_local(ModelChoice(model="local", structured="json_schema"),
    ...     ""))).failure().message)
    the embedded local model cannot answer in structured mode json_schema: use json_object \
(its default) or prompt
    """

    def check(models: ModelPlan) -> Result[ModelPlan, Problem]:
        if models.local and models.default.structured == "json_schema":
            return Failure(
                Problem(
                    what="the embedded local model cannot answer in structured mode json_schema: "
                    "use json_object (its default) or prompt",
                    where="structured",
                )
            )
        missing = missing_extra((models.default, *(route for _, route in models.routes)))
        return Failure(Problem(what=missing)) if missing else Success(models)

    return planned.bind(check)


def next_step(label: str | None, ctx: Context) -> int | None:
    """The plan step a run resumed after the snapshot ``label`` (holding ``ctx``) starts
    with: the first one not yet completed or skipped; None before the plan is approved, or
    when no step is left.

    >>> from plancontrol.core.plan import Plan, Step
    >>> ctx = Context(task="t", plan=Plan((Step("a", "engineer"), Step("b", "researcher"))))
    >>> next_step("approve", ctx), next_step("review", ctx)
    (1, None)
    """
    from plancontrol.core.phases.control import first_step

    if ctx.plan is None or label in (None, "plan", "review"):
        return None
    step = first_step(ctx, ctx.plan).value_or(0)
    return step if 1 <= step <= ctx.plan.n_steps else None


def continue_command(error: Error, folder: str, settings: Settings) -> str:
    """The command that goes on after ``error`` stopped the run in ``folder``, with the flag
    that changes what stopped it.

    >>> continue_command(BudgetExceeded(limit_usd=0.5, spent_usd=0.52, step=0), "run", Settings())
    'plancontrol resume run --max-cost-usd 1.1'
    >>> continue_command(RoundsExhausted(phase="control", step=2, limit=100), "my run", Settings())
    "plancontrol resume 'my run' --set settings.max_rounds_control=200"
    >>> continue_command(PlanRejected(reason="no"), "run", Settings())
    'plancontrol resume run'
    """
    base = f"plancontrol resume {_quoted(folder)}"
    match error:
        case AttemptsExhausted(attempts=attempts):
            return f"{base} --max-n-attempts {attempts + 2}"
        case BudgetExceeded(limit_usd=limit, spent_usd=spent):
            return f"{base} --max-cost-usd {_dollars(2 * max(limit, spent))}"
        case RoundsExhausted(phase=phase, limit=limit):
            knob = "max_rounds_planning" if phase == "planning" else "max_rounds_control"
            return f"{base} --set settings.{knob}={2 * limit}"
        case InvalidReply():
            return f"{base} --set settings.max_reply_retries={settings.max_reply_retries + 2}"
        case InvalidPlan(fix=fix) if "max_plan_steps" in fix:
            return f"{base} --set settings.max_plan_steps={settings.max_plan_steps + 2}"
        case PlanRejected(reason=reason) if "max_plan_revisions" in reason:
            return f"{base} --set settings.max_plan_revisions={settings.max_plan_revisions + 2}"
    return base


def _dollars(amount: float) -> str:
    """A budget to suggest: two significant figures, rounded up.

    >>> _dollars(1.04), _dollars(0.0123), _dollars(3.0)
    ('1.1', '0.013', '3')
    """
    import math

    scale = 10 ** (math.floor(math.log10(amount)) - 1)
    return f"{math.ceil(round(amount / scale, 9)) * scale:.10g}"


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(text)


def model_settings(models: ModelPlan) -> dict[str, Any]:
    """The settings' fields that name the models, as ``models`` has them."""
    return {
        "default_model": models.default_model,
        "role_models": [{"role": r, "model": m} for r, m in models.role_models],
    }


def _unkeyed(route: Route) -> Route:
    return replace(route, api_key=None)


def options_of(models: ModelPlan, code_timeout: float, allow_install: bool) -> RunOptions:
    """What a session records about how it ran: the routes without keys, and the script
    limits."""
    return RunOptions(
        default_route=_unkeyed(models.default),
        routes=tuple((name, _unkeyed(route)) for name, route in models.routes),
        code_timeout=code_timeout,
        allow_install=allow_install,
    )

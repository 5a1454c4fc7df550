"""The immutable workflow context and its exact JSON form; performs no I/O."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import msgspec
from pyrsistent import PMap, pmap
from returns.result import Failure, Result, Success

from plancontrol.core.plan import Plan, Review
from plancontrol.core.settings import Settings

__all__ = [
    "CodeStatus",
    "Context",
    "Scalar",
    "StepOutcome",
    "StepStatus",
    "TimingRow",
    "UsageRow",
    "Value",
    "decode_context",
    "encode_context",
]

StepStatus = Literal["completed", "failed", "skipped"]
"""Whether the step did its job; judged apart from whether its code ran."""

CodeStatus = Literal["not_run", "succeeded", "failed", "timed_out"]
"""What happened to the last script a step executed."""

Scalar: TypeAlias = str | int | float | bool | None
Value: TypeAlias = Scalar | tuple[Scalar, ...]
"""A value agents may share through ``Context.variables``: a JSON scalar or a tuple of them."""


class StepOutcome(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What one plan step ended with."""

    step: int
    agent: str
    status: StepStatus
    code_status: CodeStatus = "not_run"
    attempts: int = 0
    summary: str = ""
    files: tuple[str, ...] = ()
    error: str = ""


class UsageRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One model call: who asked, which model, where in the run, tokens and dollars.

    ``cost_usd`` is None when the model's price is unknown: unknown, not free.
    """

    role: str
    model: str
    phase: str
    step: int
    attempt: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = None


class TimingRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Wall-clock span of one phase (step 0) or one plan step, from the clock effect."""

    phase: str
    step: int
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        """Duration of the span."""
        return self.ended - self.started


class Context(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything a run knows: the input, the plan and its history, outcomes and ledgers.

    Phases never change a Context; they return a new one (``msgspec.structs.replace``).
    """

    task: str
    settings: Settings = msgspec.field(default_factory=Settings)
    plan: Plan | None = None
    drafts: tuple[Plan, ...] = ()
    reviews: tuple[Review, ...] = ()
    feedback: tuple[str, ...] = ()
    outcomes: tuple[StepOutcome, ...] = ()
    usage: tuple[UsageRow, ...] = ()
    timings: tuple[TimingRow, ...] = ()
    variables: PMap[str, Value] = msgspec.field(default_factory=pmap)

    def outcome(self, step: int) -> StepOutcome | None:
        """The latest outcome recorded for ``step``, if any."""
        return next((o for o in reversed(self.outcomes) if o.step == step), None)

    @property
    def completed_steps(self) -> tuple[int, ...]:
        """Numbers of the steps whose latest outcome is ``completed``, ascending."""
        latest = {o.step: o for o in self.outcomes}
        return tuple(sorted(n for n, o in latest.items() if o.status == "completed"))


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, PMap):
        return dict(sorted(obj.items()))  # the only mapping in a Context: sorted, so stable
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _dec_hook(typ: Any, obj: Any) -> Any:
    if getattr(typ, "__origin__", typ) is PMap:
        try:
            return pmap(msgspec.convert(obj, dict[str, Value]))
        except msgspec.ValidationError as exc:  # re-raised so msgspec adds the field's path
            raise ValueError(str(exc).split(" - at ")[0]) from None
    raise NotImplementedError(f"cannot decode {typ!r}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoder = msgspec.json.Decoder(Context, dec_hook=_dec_hook)


def encode_context(ctx: Context) -> bytes:
    """The context as deterministic JSON (keys of ``variables`` sorted).

    >>> ctx = Context(task="t", variables=pmap({"b": 1, "a": (2.5, "x", None)}))
    >>> decode_context(encode_context(ctx)).unwrap() == ctx
    True
    """
    return _encoder.encode(ctx)


def decode_context(data: bytes | str) -> Result[Context, str]:
    """Decode JSON made by ``encode_context``; a bad document becomes a message saying where."""
    try:
        return Success(_decoder.decode(data))
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return Failure(f"not a plancontrol context: {exc}")
    except RecursionError:  # msgspec's guard against nesting deeper than the stack allows
        return Failure("not a plancontrol context: JSON is nested too deeply")
    except UnicodeError:  # invalid UTF-8 in a string, or text with an unpaired surrogate
        return Failure("not a plancontrol context: the text is not valid UTF-8")

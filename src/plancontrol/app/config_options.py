"""The options a config file, the environment and flags may set, and what gathering them holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from plancontrol.core.context import Value
from plancontrol.core.settings import Settings
from plancontrol.handlers.defaults import CODE_TIMEOUT, MODEL_TIMEOUT
from plancontrol.handlers.policy import Override

__all__ = [
    "CONFIG_FILE",
    "ENV_PREFIX",
    "FREE_TABLES",
    "OPTIONS",
    "SCALAR_SETTINGS",
    "SETTINGS",
    "Gathered",
]

CONFIG_FILE = "plancontrol.toml"
"""The file ``plancontrol run`` reads from the current folder (``--config`` names another)."""

ENV_PREFIX = "PLANCONTROL_"
"""``PLANCONTROL_MODEL=gpt-4o``, ``PLANCONTROL_MAX_PLAN_STEPS=5``: one variable per option."""

OPTIONS: dict[str, Any] = {
    "model": None,
    "base_url": None,
    "structured": None,
    "timeout": MODEL_TIMEOUT,
    "max_retries": 2,
    "code_timeout": CODE_TIMEOUT,
    "allow_install": False,
    "reasoning_effort": None,
    "max_tokens": None,
    "python": None,
    "pass_env": (),
    "runs_dir": "runs",
}
"""How ``run`` reaches models and runs code (the ``[run]`` table), with their defaults; every
other option is a workflow setting (``[settings]``) with ``Settings``' default."""

SETTINGS = msgspec.structs.asdict(Settings())
"""Every workflow setting with its default."""

FREE_TABLES = ("roles", "params", "prices", "variables")
"""Tables whose keys the user names (roles, models, variables), besides [run] and [settings]."""
SCALAR_SETTINGS = sorted(
    name
    for name, value in SETTINGS.items()
    if name not in ("default_model", "role_models", "roles") and not isinstance(value, tuple)
)
"""The settings one value sets (a variable or a flag can), in name order."""


@dataclass
class Gathered:
    """The options gathered so far, source after source, and where each came from."""

    run: dict[str, Any] = field(default_factory=lambda: dict(OPTIONS))
    settings: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    params: tuple[Override, ...] = ()
    prices: tuple[tuple[str, float, float], ...] = ()
    variables: dict[str, Value] = field(default_factory=dict)

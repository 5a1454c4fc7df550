"""The example config file ``plancontrol init`` writes, rendered from the options' defaults."""

from __future__ import annotations

from typing import Any

import msgspec

from plancontrol.app.config_options import SCALAR_SETTINGS, SETTINGS
from plancontrol.app.routing import SERVER_MAX_TOKENS
from plancontrol.handlers.defaults import CODE_TIMEOUT, MODEL_TIMEOUT

__all__ = ["example_config"]


def example_config() -> str:  # one template: the file as plancontrol init writes it
    """The commented config file ``plancontrol init`` writes."""
    settings = "\n".join(_commented(name, SETTINGS[name]) for name in SCALAR_SETTINGS)
    return f"""\
# plancontrol's settings for runs started in this folder.
# Environment variables override this file (PLANCONTROL_MODEL=gpt-4o,
# PLANCONTROL_MAX_PLAN_STEPS=5), and flags override both; see where each value
# came from with `plancontrol run TASK --show-config`. Keys are never read
# from here: they come from OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY.

[run]
# The model for every role: "local" (the embedded model), "gpt-4o",
# "claude-sonnet-4", "gemini-2.5-pro", or a model your --base-url server serves.
# model = "local"
# base_url = "http://127.0.0.1:8080/v1"
# structured = "json_object"   # json_schema, json_object or prompt
# timeout = {MODEL_TIMEOUT:<19g}# seconds per model call
# max_retries = 2              # retries of a failed model call (429, 5xx, timeout)
# max_tokens = 2000            # most tokens per reply [{SERVER_MAX_TOKENS} for base_url and local]
# code_timeout = {CODE_TIMEOUT:<14g}# seconds per script run
# allow_install = false        # let the installer run pip
# python = "/usr/bin/python3"  # the Python that runs the scripts and pip
# pass_env = ["HF_TOKEN"]      # variables holding keys or tokens that scripts may read
# runs_dir = "runs"            # where a run without --run-dir gets a new folder

[roles]
# A model for one role, overriding [run] model.
# planner = "gpt-4o"
# engineer = "o3"

[settings]
# The workflow's knobs, with their defaults.
{settings}

# A role a plan may use, added to engineer, researcher, idea_maker and idea_hater
# (one named like one of them replaces it): one [[settings.roles]] table per role.
# [[settings.roles]]
# name = "critic"
# description = "finds the weak points of the results so far"
# kind = "text"                # text (replies once) or code (writes and runs scripts)
# instructions = "Name the single weakest point first."
"""


_UNSET_EXAMPLES: dict[str, tuple[Any, str]] = {
    "approval_timeout": (300, "seconds; not set by default: wait for ever"),
    "max_cost_usd": (1.0, "dollars; not set by default: no limit"),
}
"""A value to show for each setting that is unset by default (TOML has no null)."""


def _commented(name: str, value: Any) -> str:
    """One commented-out line of the example: the option and its default, or for an option
    unset by default an example value; uncommented, each line is valid TOML.

    >>> _commented("max_cost_usd", None)
    '# max_cost_usd = 1.0               # dollars; not set by default: no limit'
    """
    if value is None:
        if name not in _UNSET_EXAMPLES:
            return f"# {name}: not set by default"
        example, note = _UNSET_EXAMPLES[name]
        return f"{_commented(name, example):<34} # {note}"
    if isinstance(value, bool):
        return f"# {name} = {str(value).lower()}"
    if isinstance(value, str):
        return f"# {name} = {msgspec.json.encode(value).decode()}"
    return f"# {name} = {value}"

"""The default limits of model calls and scripts, stated once for every layer above."""

from __future__ import annotations

__all__ = ["CODE_TIMEOUT", "MODEL_TIMEOUT"]

MODEL_TIMEOUT = 120.0
"""Seconds one model call may take before the SDK retries or gives up (``--timeout``)."""

CODE_TIMEOUT = 600.0
"""Seconds a script may run before it is stopped (``--code-timeout``)."""

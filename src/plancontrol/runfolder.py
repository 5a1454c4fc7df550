"""The run folder on disk: its manifest, its recorded context, and comparing a replay with them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.context import Context, decode_context, encode_context
from plancontrol.models import Route
from plancontrol.settings import Settings

__all__ = [
    "FORMAT",
    "ComparingCheckpoints",
    "Manifest",
    "Verdict",
    "compare",
    "first_difference",
    "read_manifest",
    "recorded_context",
    "write_manifest",
]

FORMAT = 1
"""Version of the run folder's layout; a folder of another version is refused, not guessed."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a run folder holds and how it was made (keys never included)."""

    format: int
    plancontrol: str
    ag2: str
    task: str
    settings: Settings
    default_route: Route
    routes: tuple[tuple[str, Route], ...] = ()


def write_manifest(
    folder: Path,
    task: str,
    settings: Settings,
    default: Route,
    routes: tuple[tuple[str, Route], ...],
    scrub: Callable[[bytes], bytes] = bytes,
) -> Manifest:
    """Write ``manifest.json`` with every route's key removed (and ``scrub`` applied)."""
    from importlib.metadata import version

    from plancontrol import __version__

    manifest = Manifest(
        format=FORMAT,
        plancontrol=__version__,
        ag2=version("ag2"),
        task=task,
        settings=settings,
        default_route=replace(default, api_key=None),
        routes=tuple((name, replace(route, api_key=None)) for name, route in routes),
    )
    data = msgspec.json.format(msgspec.json.encode(manifest)) + b"\n"
    (folder / "manifest.json").write_bytes(scrub(data))
    return manifest


def read_manifest(folder: Path) -> Result[Manifest, str]:
    """The folder's manifest, or a one-line reason it cannot be replayed."""
    path = folder / "manifest.json"
    if not path.is_file():
        return Failure(
            f"{folder} is not a plancontrol run folder (no manifest.json); pass the "
            "folder that `plancontrol run` wrote"
        )
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return Failure(f"{path} is damaged: {exc}; re-record the run")
    if manifest.format != FORMAT:
        return Failure(
            f"{path} has format {manifest.format}; this plancontrol reads format {FORMAT}"
        )
    return Success(manifest)


def first_difference(recorded: Any, replayed: Any, path: str = "$") -> str | None:
    """The JSON path where two decoded JSON values first differ, with both values.

    >>> first_difference({"a": [1, 2]}, {"a": [1, 3]})
    '$.a[1]: recorded 2, replayed 3'
    """
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in dict.fromkeys([*recorded, *replayed]):
            if key not in recorded or key not in replayed:
                return f"{path}.{key}: present in only one of them"
            found = first_difference(recorded[key], replayed[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(replayed, list):
        for index, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        if len(recorded) != len(replayed):
            return f"{path}: recorded {len(recorded)} items, replayed {len(replayed)}"
        return None
    if recorded == replayed:
        return None
    if isinstance(recorded, str) and isinstance(replayed, str):
        at = next(
            (i for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)) if a != b),
            min(len(recorded), len(replayed)),
        )
        if at > 20 or max(len(recorded), len(replayed)) > 80:
            return (
                f"{path} from character {at}: recorded {_short(recorded[at:])}, "
                f"replayed {_short(replayed[at:])}"
            )
    return f"{path}: recorded {_short(recorded)}, replayed {_short(replayed)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Verdict:
    """How a replay compares with its recording."""

    identical: bool
    digest: str
    difference: str | None


def compare(recorded: bytes, replayed: Context) -> Verdict:
    """Compare the recorded final context with the replayed one, byte for byte."""
    data = encode_context(replayed)
    digest = hashlib.sha256(data).hexdigest()
    if data == recorded:
        return Verdict(True, digest, None)
    where = first_difference(msgspec.json.decode(recorded), msgspec.json.decode(data))
    return Verdict(False, digest, where or "the encodings differ")


class ComparingCheckpoints:
    """On replay: compares each snapshot with the one recorded under the same label."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.compared: list[tuple[str, str | None]] = []

    def save(self, label: str, ctx: Context) -> None:
        path = self.folder / "snapshots" / f"{label}.json"
        if not path.is_file():
            self.compared.append((label, "no snapshot was recorded here"))
            return
        self.compared.append((label, compare(path.read_bytes(), ctx).difference))

    @property
    def first_difference(self) -> tuple[str, str] | None:
        """The first snapshot that differs, and where."""
        return next(((label, where) for label, where in self.compared if where), None)


def recorded_context(folder: Path) -> Result[tuple[bytes, Context], str]:
    """The final context the recording ended with."""
    path = folder / "context.json"
    if not path.is_file():
        return Failure(f"{path} is missing: the recorded run did not finish writing; re-record")
    data = path.read_bytes()
    return decode_context(data).map(lambda ctx: (data, ctx)).alt(lambda e: f"{path}: {e}")

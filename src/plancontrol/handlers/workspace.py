"""Workspaces: the run's files in a folder on disk, or in a dict for replays and tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from plancontrol.handlers.files import write_atomic

__all__ = ["FolderWorkspace", "MemoryWorkspace", "inside"]


def inside(root: Path, path: str) -> str:
    """``path`` normalised to forward slashes; ValueError if it is absolute or leaves ``root``."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or str(pure) == ".":
        raise ValueError(f"expected a file path relative to {root}, got {path!r}")
    if not (root / pure).resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{path!r} leads outside {root} through a symbolic link")
    return pure.as_posix()


class FolderWorkspace:
    """The run's files under ``root``: relative paths with forward slashes, atomic writes.

    A path that is absolute or climbs out of the folder is a bug in the caller:

    >>> FolderWorkspace("run").write("../elsewhere.md", "text")
    Traceback (most recent call last):
    ValueError: expected a file path relative to run, got '../elsewhere.md'
    """

    def __init__(self, root: Path | str, scrub: Callable[[str], str] = str) -> None:
        self.root = Path(root)
        self.scrub = scrub

    def write(self, path: str, content: str) -> str:
        relative = inside(self.root, path)
        write_atomic(self.root / relative, self.scrub(content))
        return relative

    def read(self, path: str) -> str | None:
        target = self.root / inside(self.root, path)
        try:
            with open(target, encoding="utf-8", errors="replace", newline="") as file:
                return file.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None


class MemoryWorkspace:
    """Files in a dict: ``files[path]`` holds what was written."""

    def __init__(self, files: Mapping[str, str] | None = None) -> None:
        self.files: dict[str, str] = dict(files or {})

    def write(self, path: str, content: str) -> str:
        self.files[path] = content
        return path

    def read(self, path: str) -> str | None:
        return self.files.get(path)

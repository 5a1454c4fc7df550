"""Keeps earlier steps' files safe from a later step's script: copies them, puts them back."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from stat import S_ISREG

import msgspec

from plancontrol.handlers.capture import size_text
from plancontrol.handlers.files import write_atomic

__all__ = ["HIDDEN", "Keeper", "put_back", "snapshot"]

HIDDEN = ".plancontrol"
"""The executor's own folder in the work folder: kept copies, the scripts' home and temp."""
_COPY_LIMIT = 64 << 20
"""Files up to this size (64 MiB) are kept as copies; larger ones as hard links (deletion only)."""


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but ``__pycache__`` and ``.plancontrol``) -> (mtime_ns, size)."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and (d != HIDDEN or folder != str(root))]
        for name in names:
            path = Path(folder, name)
            with contextlib.suppress(OSError):
                stat = path.lstat()
                found[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class _Kept(msgspec.Struct, frozen=True, array_like=True):
    """What the executor knows of one file in the work folder."""

    step: int
    """The step whose script made (or last changed) it; 0 when no script did."""
    mtime_ns: int
    size: int
    sha256: str = ""
    """Of the copy kept of this version; ``linked`` for a hard link; "" when none is kept."""

    @property
    def signature(self) -> tuple[int, int]:
        return (self.mtime_ns, self.size)


_KEPT_INDEX = msgspec.json.Decoder(dict[str, _Kept])


class Keeper:
    """Protects the files of earlier steps from the script of a later one.

    Before a script runs, each file in the work folder that an earlier step's script made
    (or that no script made: inputs, reports, the run's records) is kept under
    ``.plancontrol/kept/step_N/`` (copied once per version; a file larger than
    ``_COPY_LIMIT`` is hard-linked, which guards against deletion only). After the script,
    a deleted file is put back, and so is a changed file that no script made; a changed
    file of an earlier step is put back too with ``restore_changed``, else left as the
    script made it, its earlier version kept. Each case is noted for the judge.
    """

    def __init__(self, root: Path, restore_changed: bool) -> None:
        self.root = root
        self.store = root / HIDDEN / "kept"
        self.index = root / HIDDEN / "kept.json"
        self.restore_changed = restore_changed

    def _load(self) -> dict[str, _Kept]:
        try:
            return _KEPT_INDEX.decode(self.index.read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return {}  # lost or damaged: every file is then treated as made before the step

    def _save(self, index: dict[str, _Kept]) -> None:
        with contextlib.suppress(OSError):
            write_atomic(self.index, msgspec.json.encode(dict(sorted(index.items()))).decode())

    def _kept(self, path: str, entry: _Kept) -> Path:
        return self.store / f"step_{entry.step}" / path

    def _intact(self, path: str, entry: _Kept) -> bool:
        """Whether the kept copy of ``entry`` is there, as it was kept."""
        try:
            stat = self._kept(path, entry).lstat()
        except OSError:
            return False
        return (
            bool(entry.sha256)
            and S_ISREG(stat.st_mode)
            and (stat.st_mtime_ns, stat.st_size) == entry.signature
        )

    def _keep(self, path: str, step: int) -> _Kept | None:
        source = self.root / path
        try:
            stat = source.lstat()
            if not S_ISREG(stat.st_mode):
                return None
            target = self._kept(path, _Kept(step, 0, 0))
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()  # never write through an older hard link to the file itself
            if stat.st_size > _COPY_LIMIT:
                os.link(source, target)
                return _Kept(step, stat.st_mtime_ns, stat.st_size, "linked")
            shutil.copy2(source, target, follow_symlinks=False)
            return _Kept(step, stat.st_mtime_ns, stat.st_size, _sha256(target))
        except OSError:
            return None

    def guard(self, step: int, before: dict[str, tuple[int, int]], own: str) -> dict[str, _Kept]:
        """Keep a current copy of each file made before ``step`` (``own`` is the script);
        return those files: the script about to run must leave them as they are."""
        index = self._load()
        known: dict[str, _Kept] = {}
        guarded: dict[str, _Kept] = {}
        for path, signature in before.items():
            entry = index.get(path) or _Kept(0, *signature)
            if path == own:
                entry = _Kept(step, *signature)
            elif entry.step < step:
                if entry.signature != signature or not self._intact(path, entry):
                    entry = self._keep(path, entry.step) or _Kept(entry.step, *signature)
                if entry.sha256:
                    guarded[path] = entry
            known[path] = entry
        self._save(known)
        return guarded

    def _restore(self, path: str, entry: _Kept) -> bool:
        kept, target = self._kept(path, entry), self.root / path
        if not self._intact(path, entry):
            return False
        try:
            if entry.sha256 != "linked" and _sha256(kept) != entry.sha256:
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.restored")
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            if entry.sha256 == "linked":
                os.link(kept, temp)
            else:
                shutil.copy2(kept, temp)
            os.replace(temp, target)
        except OSError:
            return False
        return True

    def check(self, guarded: dict[str, _Kept]) -> list[str]:
        """Put back what the script deleted (and, with ``restore_changed``, changed) of the
        ``guarded`` files; one note for each file it touched."""
        notes: list[str] = []
        for path, entry in sorted(guarded.items()):
            target = self.root / path
            try:
                stat = target.lstat()
                present = S_ISREG(stat.st_mode)
            except OSError:
                present = False
            if present and (stat.st_mtime_ns, stat.st_size) == entry.signature:
                continue
            if present and entry.sha256 != "linked" and _digest_or_none(target) == entry.sha256:
                continue  # written again with the same bytes
            made = f"made by step {entry.step}" if entry.step else "there before this step"
            what = "changed" if present else "deleted"
            kept = self._kept(path, entry).relative_to(self.root).as_posix()
            if not present or self.restore_changed or entry.step == 0:
                if self._restore(path, entry):
                    notes.append(
                        f"[plancontrol] restored {path} ({made}), which this script {what}: "
                        "leave earlier steps' files as they are and write new ones"
                    )
                else:
                    notes.append(
                        f"[plancontrol] this script {what} {path} ({made}) and it could not "
                        "be restored: its kept copy is gone or was changed too"
                    )
            elif self._intact(path, entry):
                notes.append(
                    f"[plancontrol] this script changed {path} ({made}); "
                    f"the earlier version is kept in {kept}"
                )
            else:
                notes.append(
                    f"[plancontrol] this script changed {path} ({made}) in place; "
                    f"it is too large ({size_text(entry.size)}) for a copy to be kept"
                )
        return notes

    def record(self, step: int, after: dict[str, tuple[int, int]]) -> None:
        """Note the files ``step``'s script made or changed as its own."""
        index = self._load()
        self._save(
            {
                path: entry if entry and entry.signature == signature else _Kept(step, *signature)
                for path, signature in after.items()
                for entry in (index.get(path),)
            }
        )


def _digest_or_none(path: Path) -> str | None:
    try:
        return _sha256(path)
    except OSError:
        return None


def put_back(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` again if a script removed or changed it."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            if file.read() == text:
                return
    except (OSError, UnicodeDecodeError):
        pass
    with contextlib.suppress(OSError):
        write_atomic(path, text)

"""The preset store: a bank is a folder of preset files.

* Writes are atomic (temporary file, fsync, rename): a crash leaves the old
  file or the new one, never a torn one.
* A lock file (``flock``) serialises writers across processes — the server,
  the terminal UI, a script — so none loses another's work.
* Any Unicode name works; the file name is a sanitised slug plus a hash of
  the exact name, so nothing a name contains can leave the bank folder.
* A file that does not validate is reported with its reason and left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from filelock import FileLock

from inversynth.atomic import TEMP_PREFIX, atomic_write_text, ensure_folder
from inversynth.presets.preset import Preset, PresetError

SUFFIX = ".json"
LOCK_NAME = ".bank.lock"
TRASH = ".trash"
BANK_FORMAT = "inversynth-bank"
CLASH_POLICIES = ("refuse", "overwrite", "keep-both")
FACTORY = Path(__file__).with_name("factory")


def user_bank() -> Path:
    """The default bank: the platform's user data folder (platformdirs) / presets: ~/.local/share/inversynth
    (or $XDG_DATA_HOME) on Linux, ~/Library/Application Support/inversynth on macOS, %LOCALAPPDATA% on Windows."""
    return platformdirs.user_data_path("inversynth", appauthor=False) / "presets"


def file_name(name: str) -> str:
    """A safe, unique file name for a preset name: readable slug + 8 hex digits of its hash."""
    normal = unicodedata.normalize("NFKC", name.strip())
    slug = re.sub(r"[^\w.-]+", "-", normal, flags=re.UNICODE).strip("-.")[:60] or "preset"
    digest = hashlib.sha256(normal.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}{SUFFIX}"


def _write(path: Path, text: str) -> None:
    """Write atomically; a write that fails (a full disk, a read-only folder) is one PresetError and
    leaves every file as it was."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        reason = exc.strerror or exc
        raise PresetError(f"cannot write {path.name} in {path.parent}: {reason}; nothing changed") from None


@dataclass(frozen=True)
class BrokenFile:
    """A file of the bank that is not a valid preset: why, and the name it claims (if any can be read)."""

    path: Path
    reason: str
    claims: str | None = None


class Bank:
    """A folder of presets. Reads never lock; every write holds the bank's lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, name: str) -> Path:
        path = self.folder / file_name(name)
        if path.parent != self.folder:  # file_name() cannot produce this; keep the promise explicit
            raise PresetError(f"preset name {name!r} would leave the bank folder")
        return path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The bank's lock between processes (flock on Unix, msvcrt on Windows: filelock); a killed holder frees it."""
        ensure_folder(self.folder)
        with FileLock(self.folder / LOCK_NAME):
            yield

    def check_writable(self) -> None:
        """Refuse, in one line, a bank folder that cannot be created or written (before anything starts)."""
        try:
            ensure_folder(self.folder)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=TEMP_PREFIX):
                pass
        except OSError as exc:
            raise PresetError(f"the bank {self.folder} is not writable ({exc.strerror or exc})") from None

    def preset_files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob(f"*{SUFFIX}") if not p.name.startswith(TEMP_PREFIX))  # not .trash/

    def scan(self) -> tuple[list[Preset], list[BrokenFile]]:
        """Every valid preset (sorted by name) and every file that is not one, with why."""
        found = [_parse(path) for path in self.preset_files()]
        good = [p for p in found if isinstance(p, Preset)]
        return sorted(good, key=lambda p: p.name.casefold()), [p for p in found if isinstance(p, BrokenFile)]

    def names(self) -> list[str]:
        return [p.name for p in self.scan()[0]]

    def locate(self, name: str) -> Path | None:
        """The file that holds preset ``name``: the one this store names after it, else any file of the
        folder whose preset has that name (a file saved under a name of its own, as a friend sends one)."""
        path = self.path_for(name)
        if path.exists():
            return path
        return next((p for p in self.preset_files() if _claimed_name(p) == name), None)

    def load(self, name: str) -> Preset:
        path = self.locate(name)
        if path is None:
            raise PresetError(f"no preset named {name!r} in {self.folder}")
        try:
            return Preset.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise PresetError(f"{path}: {exc}") from None
        except PresetError as exc:
            raise PresetError(f"{path}: {exc}") from None

    def save(self, preset: Preset, overwrite: bool = True) -> Path:
        """Write ``preset`` atomically under the lock, into the file that holds its name (if one does);
        with overwrite=False an existing name is an error."""
        with self._locked():
            path = self.locate(preset.name) or self.path_for(preset.name)
            if path.exists() and not overwrite:
                raise PresetError(f"a preset named {preset.name!r} already exists in {self.folder}")
            _write(path, preset.dumps())
        return path

    def rename(self, old: str, new: str) -> Preset:
        """Rename a preset (its file moves with it); the new name must be free."""
        preset = self.load(old)
        source = self.locate(old) or self.path_for(old)
        renamed = preset.changed(name=new)
        with self._locked():
            target = self.path_for(renamed.name)
            if target.exists() and target != source:
                raise PresetError(f"a preset named {new!r} already exists in {self.folder}")
            _write(target, renamed.dumps())
            if target != source:
                source.unlink()
        return renamed

    def duplicate(self, name: str, new: str | None = None) -> Preset:
        """Copy a preset under a free name ("NAME copy", "NAME copy 2", ...)."""
        preset = self.load(name)
        return self.add(preset.changed(name=new or self.free_name(f"{name} copy")))

    def free_name(self, name: str) -> str:
        """``name`` if no preset has it, else "NAME 2", "NAME 3", ..."""
        existing, candidate, number = set(self.names()), name, 2
        while candidate in existing:
            candidate, number = f"{name} {number}", number + 1
        return candidate

    def add(self, preset: Preset, clash: str = "refuse") -> Preset:
        """Save a preset from elsewhere (the factory, a file); a taken name is refused, overwritten
        (``clash="overwrite"``) or given a free one (``"keep-both"``). Returns what was saved."""
        if clash not in CLASH_POLICIES:
            raise PresetError(f"clash policy {clash!r} is unknown; use one of {', '.join(CLASH_POLICIES)}")
        if clash == "keep-both":
            preset = preset.changed(name=self.free_name(preset.name))
        self.save(preset, overwrite=clash == "overwrite")
        return preset

    def delete(self, name: str) -> Path:
        """Move a preset to the bank's trash; ``undo_delete`` brings the latest one back."""
        with self._locked():
            path = self.locate(name)
            if path is None:
                raise PresetError(f"no preset named {name!r} in {self.folder}")
            trash = ensure_folder(self.folder / TRASH)
            kept = trash / f"{len(list(trash.iterdir())):06d}-{path.name}"
            os.replace(path, kept)
        return kept

    def undo_delete(self) -> Preset:
        """Restore the most recently deleted preset (unless its name was taken since)."""
        with self._locked():
            trash = self.folder / TRASH
            kept = sorted(trash.iterdir()) if trash.is_dir() else []
            if not kept:
                raise PresetError(f"nothing to undo in {self.folder}")
            preset = Preset.loads(kept[-1].read_text(encoding="utf-8"))
            target = self.path_for(preset.name)
            if target.exists():
                raise PresetError(f"cannot restore {preset.name!r}: a preset of that name exists again")
            os.replace(kept[-1], target)
        return preset

    def export_to(self, path: Path) -> int:
        """Write every valid preset into one bank file (atomically); return how many."""
        presets, _ = self.scan()
        document = {"format": BANK_FORMAT, "version": 1, "presets": [p.to_json() for p in presets]}
        _write(Path(path), json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return len(presets)

    def import_from(self, path: Path, clash: str = "refuse") -> list[str]:
        """Add the presets of a bank file, a preset file or a folder of preset files; all are validated
        before any is written. Taken names follow ``clash`` (see :meth:`add`). Returns the names saved."""
        presets = read_presets(Path(path))
        if clash == "refuse":
            taken = set(self.names())
            clashes = [p.name for p in presets if p.name in taken]
            if clashes:
                raise PresetError(f"{path}: would replace {', '.join(clashes)}; overwrite them or keep both")
        return [self.add(preset, clash).name for preset in presets]

    def search(self, text: str = "", tag: str | None = None) -> list[Preset]:
        needle = text.casefold()
        return [p for p in self.scan()[0] if needle in p.name.casefold() and (tag is None or tag.lower() in p.tags)]


class BankIndex:
    """A bank's valid presets, kept in memory and following the folder.

    Asking costs one ``stat`` of the folder while nothing changed (every write
    here renames a file into place, which changes the folder's mtime); after a
    change only the files whose size or mtime moved are parsed again. For the
    MIDI and OSC threads, which must never parse a whole bank.
    """

    def __init__(self, bank: Bank, on_broken: Callable[[BrokenFile], None] | None = None) -> None:
        self.bank = bank
        self._on_broken = on_broken or (lambda _broken: None)  # once per file (and per change of it)
        self._stamp: int | None = None
        self._files: dict[Path, tuple[tuple[int, int], Preset | BrokenFile]] = {}
        self._presets: list[Preset] = []
        self._broken: list[BrokenFile] = []
        self._lock = threading.Lock()

    def presets(self) -> list[Preset]:
        """Every valid preset of the bank, sorted by name."""
        return self.scan()[0]

    def find(self, name: str) -> Preset | BrokenFile | None:
        """The preset named ``name``; else the file that claims that name but is not a valid preset
        (its reason says why it cannot load); else None."""
        presets, broken = self.scan()
        found = next((p for p in presets if p.name == name), None)
        return found or next((b for b in broken if b.claims == name), None)

    def scan(self) -> tuple[list[Preset], list[BrokenFile]]:
        """Like :meth:`Bank.scan`, from memory: the valid presets (by name) and the files that are not."""
        with self._lock:
            try:
                stamp = self.bank.folder.stat().st_mtime_ns
            except OSError:
                stamp = None
            if stamp != self._stamp or stamp is None:
                self._stamp = stamp
                self._refresh()
            return list(self._presets), list(self._broken)

    def _refresh(self) -> None:
        files: dict[Path, tuple[tuple[int, int], Preset | BrokenFile]] = {}
        for path in self.bank.preset_files():
            try:
                info = path.stat()
            except OSError:  # removed meanwhile
                continue
            key = (info.st_mtime_ns, info.st_size)
            known = self._files.get(path)
            if known is None or known[0] != key:
                known = (key, _parse(path))
                if isinstance(known[1], BrokenFile):
                    self._on_broken(known[1])
            files[path] = known
        self._files = files
        parsed = [p for _, p in files.values()]
        self._presets = sorted((p for p in parsed if isinstance(p, Preset)), key=lambda p: p.name.casefold())
        self._broken = [p for p in parsed if isinstance(p, BrokenFile)]


def _parse(path: Path) -> Preset | BrokenFile:
    try:
        return Preset.loads(path.read_text(encoding="utf-8"))
    except (PresetError, OSError, UnicodeDecodeError) as exc:
        return BrokenFile(path, str(exc), _claimed_name(path))


def _claimed_name(path: Path) -> str | None:
    """The name a preset file gives itself, read without validating the rest; for a file that is not
    JSON, the name its file name spells ("Old-square.json", "Old-square-1a2b3c4d.json": "Old square")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        stem = re.sub(r"-[0-9a-f]{8}$", "", path.stem)
        return stem.replace("-", " ") or None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def read_presets(path: Path) -> list[Preset]:
    """Every preset of a bank file, a preset file or a folder of preset files (all valid, or PresetError)."""
    if path.is_dir():
        found = [_parse(file) for file in sorted(path.glob(f"*{SUFFIX}"))]
        broken = [f for f in found if isinstance(f, BrokenFile)]
        if broken:
            raise PresetError(f"{broken[0].path}: {broken[0].reason}")
        return [p for p in found if isinstance(p, Preset)]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: not a readable preset or bank file ({exc})") from None
    if isinstance(document, dict) and document.get("format") == BANK_FORMAT:
        presets = []
        for number, data in enumerate(document.get("presets", []), 1):
            try:
                presets.append(Preset.from_json(data))
            except PresetError as exc:
                raise PresetError(f"{path}: preset {number}: {exc}") from None
        return presets
    try:
        return [Preset.from_json(document)]
    except PresetError as exc:
        raise PresetError(f"{path}: {exc}") from None

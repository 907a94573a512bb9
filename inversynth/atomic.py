"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Write to a temporary file in the same folder, fsync it, rename it over the
target, fsync the folder. A crash at any point leaves the old file intact
(plus, at worst, a stray ``.tmp-*`` file that nothing reads).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from inversynth.errors import InversynthError

TEMP_PREFIX = ".tmp-"
FOLDER_FSYNC = os.name != "nt"  # Windows cannot open a folder, and NTFS journals the rename itself


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; finished files get the usual 0666 minus the umask (read once, at import).
_FILE_MODE = 0o666 & ~_read_umask()


@contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` when the block exits without error."""
    path = Path(path)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    temp = Path(temp_name)
    try:
        _set_mode(fd, temp)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _set_mode(fd: int, temp: Path) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, _FILE_MODE)
    else:  # Windows has no fchmod (and of a mode only the read-only bit means anything there)
        os.chmod(temp, _FILE_MODE)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX; see FOLDER_FSYNC)."""
    if not FOLDER_FSYNC:
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` (and parents) or raise InversynthError saying why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InversynthError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
    return folder

"""Writing files whole or not at all, and knowing before long work whether a file can be written."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


class WriteError(OSError):
    """A file could not be written: its message names the file and the reason; nothing was left half-written."""

    def __str__(self) -> str:
        return str(self.strerror)


def writable(path: Any, *, new_folder: bool = False) -> Path:
    """Check that ``path`` can be written (it is no directory, and its folder exists and takes a new file)
    before any work whose result goes there; return it as a Path. Creates no folder and leaves no file.
    With ``new_folder`` the folder may be missing (the caller creates it) if the nearest existing one
    above it takes a new file."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(errno.EISDIR, f"cannot write {path}: it is a directory; name a file")
    if not new_folder and not path.parent.exists():
        raise WriteError(errno.ENOENT, f"cannot write {path}: there is no folder {path.parent}; create it, or "
                                       f"name a file in a folder that exists")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise WriteError(errno.ENOTDIR, f"cannot write {path}: {folder} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".deltaprop-probe-"):
            pass
    except OSError as exc:
        raise WriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc} in {folder}") from None
    return path


def atomic_write(path: Any, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it to ``path``.

    The file and its folder are flushed to disk (fsync) before and after the rename, so a crash
    leaves either the old file or the new one. A failure leaves ``path`` as it was and no
    temporary file behind, and raises ``WriteError`` naming the file; temporary files left by
    a writer that was killed (``name.*.tmp``) are removed on the next write to that path.
    The new file gets the permissions the umask gives.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f"{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise WriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(exc.errno, f"could not write {path}: {exc.strerror or exc}; it was left as it was") from None
        raise


def _fsync(path: Any) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_figure(fig, path: Any, **options) -> None:
    """A matplotlib figure to ``path`` atomically, in the format its suffix names (.png, .svg, .pdf)."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **options))


def write_text(path: Any, text: str) -> None:
    """Write ``text`` to ``path`` atomically, as UTF-8."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

"""Writing files without ever following a link: every output lies under its root, or is refused.

A submission's kernel can create links in its own folder (the only one it may write to); the grader
never writes through one. Outputs (grades, feedback, logs, graded notebooks) are written by path
under an output root: each folder on the way is opened relative to the one before it, refusing a
link (O_NOFOLLOW), and the file goes in under a temporary name and is renamed over the final one,
which replaces a link there instead of writing where it points.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class UnsafePath(OSError):
    """A path that would leave its root (a link, or `..`)."""


def _open_under(root: Path, parts: list[str], create: bool) -> int:
    fd = os.open(os.path.realpath(root), _DIR_FLAGS)
    try:
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise UnsafePath(f"refusing the path component {part!r} under {root}")
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise UnsafePath(f"refusing {part!r} under {root}: not a plain folder ({exc.strerror})") from None
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def write_under(root: Path, relative: str | Path, data: bytes | str) -> Path:
    """Write `data` to root/relative, creating folders; refuse anything that would resolve elsewhere."""
    parts = list(Path(relative).parts)
    if not parts or Path(relative).is_absolute():
        raise UnsafePath(f"{relative!r} is not a path under {root}")
    Path(root).mkdir(parents=True, exist_ok=True)
    fd = _open_under(Path(root), parts[:-1], create=True)
    name = parts[-1]
    temp = f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)
    return Path(root) / relative


def write_new(folder: Path, name: str, data: bytes) -> None:
    """Create folder/name, which must not exist yet (nor be a link)."""
    fd = _open_under(Path(folder), [], create=False)
    try:
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            f.write(data)
    finally:
        os.close(fd)


def empty_folder(folder: Path) -> None:
    """Remove everything inside `folder` (links are removed, never followed); the folder stays."""
    fd = _open_under(Path(folder), [], create=False)
    try:
        for entry in os.listdir(fd):
            try:
                os.unlink(entry, dir_fd=fd)
            except IsADirectoryError:
                shutil.rmtree(entry, dir_fd=fd)
            except PermissionError:      # a folder, on systems where unlink says so
                shutil.rmtree(entry, dir_fd=fd)
    finally:
        os.close(fd)

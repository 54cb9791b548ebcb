"""Uploaded files kept on the server: plain sanitised names, written whole or not at all, and bounded.

Each kind lives in its own folder (the Train page's .npz files under runs_dir()/uploads, the Explore
page's .keras files in the temporary folder); after each save only the newest KEEP files of that kind
stay, and no more than MAX_TOTAL_BYTES of them, so a day of demos cannot fill the disk.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path

from gan_core import data

KEEP = 5  # newest files kept per kind
MAX_TOTAL_BYTES = 3 * data.MAX_NPZ_BYTES  # per kind: room for a few files at the size limit
MAX_NAME = 100  # characters of a saved name, before its suffix
PART = ".part-"  # prefix of a file being written
STALE_PART_SECONDS = 3600  # a file being written for this long was left by a crash


class UploadError(ValueError):
    """An upload that is refused, with what to do about it."""


def safe_name(name: str, suffix: str) -> str:
    """`name` as a plain file name ending in `suffix`: no folders, no leading dots, only letters, digits, . _ -."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", name.replace("\\", "/").rsplit("/", 1)[-1]).lstrip(".")
    base = base.removesuffix(suffix)[:MAX_NAME] or "upload"
    return base + suffix


def check_size(size: int, name: str, hint: str = "use fewer or smaller images, or save them as uint8") -> None:
    """Refuse an upload over the engine's limit (Streamlit's own check is in the browser and its upload route)."""
    if size > data.MAX_NPZ_BYTES:
        raise UploadError(
            f"{name} is {size / 2**20:.1f} MB, larger than the {data.MAX_NPZ_BYTES / 2**20:.0f} MB upload limit; {hint}"
        )


def temp_folder(name: str) -> Path:
    """A folder of this user's in the temporary folder; refused if another user made it or it is a link (a shared
    /tmp)."""
    folder = Path(tempfile.gettempdir()) / name
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise UploadError(f"{folder} is not a folder of this user's; remove it, or set TMPDIR to another folder")
    return folder


def save(folder: Path, name: str, content: bytes, suffix: str) -> Path:
    """Write `content` as folder/safe_name(name) atomically, then keep only the newest files of that kind."""
    check_size(len(content), name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(name, suffix)
    # A unique temporary file (O_EXCL, never a planted link), renamed into place: a reader sees all or nothing.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=PART)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    prune(folder, suffix, keep=target)
    return target


def prune(folder: Path, suffix: str, keep: Path | None = None) -> list[Path]:
    """Remove the oldest `suffix` files beyond the newest KEEP or MAX_TOTAL_BYTES (`keep` always stays), and
    writes left half-done by a crash. Returns what was removed."""
    now, files, stale = time.time(), [], []
    for path in folder.iterdir():
        try:
            info = path.lstat()
        except OSError:  # removed meanwhile by another session
            continue
        if not stat.S_ISREG(info.st_mode):  # links and folders are not ours to remove
            continue
        if path.name.endswith(suffix):
            files.append((path, info))
        elif path.name.startswith(PART) and now - info.st_mtime > STALE_PART_SECONDS:
            stale.append(path)
    files.sort(key=lambda f: (f[0] != keep, -f[1].st_mtime_ns))  # `keep` first, then newest first
    total = 0
    for i, (path, info) in enumerate(files):
        if path != keep and (i >= KEEP or total + info.st_size > MAX_TOTAL_BYTES):
            stale.append(path)
        else:
            total += info.st_size
    for path in stale:
        path.unlink(missing_ok=True)
    return stale

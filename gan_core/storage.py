"""Run folders on this machine or in a bucket (gs://, s3:// where TensorFlow's plugin is installed).

A local path stays a pathlib.Path, so it keeps everything the OS gives the run folders: atomic
renames, fsync, links refused. A "scheme://" path is a GPath: the part of pathlib.Path that
gan_core.runs uses, over tf.io.gfile. TensorFlow is imported for those only, so a page that reads
local runs does not load it.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)


def as_path(path: str | os.PathLike) -> Path | GPath:
    """`path` as a GPath when it is a URL ("gs://bucket/runs"), else as a pathlib.Path."""
    if isinstance(path, (Path, GPath)):
        return path
    path = os.fspath(path)
    return GPath(path) if _URL.match(path) else Path(path)


def is_remote(path: str | os.PathLike) -> bool:
    return isinstance(as_path(path), GPath)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


@contextmanager
def _os_errors(path: GPath) -> Iterator[None]:
    """TensorFlow's errors as the OSErrors that callers of pathlib catch, naming `path`."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as e:
        code = {
            tf.errors.NotFoundError: errno.ENOENT,
            tf.errors.AlreadyExistsError: errno.EEXIST,
            tf.errors.PermissionDeniedError: errno.EACCES,
            tf.errors.ResourceExhaustedError: errno.ENOSPC,
        }.get(type(e), errno.EIO)
        raise OSError(code, e.message or os.strerror(code), str(path)) from e  # OSError(ENOENT) is a FileNotFoundError


class GPath:
    """A file or folder that tf.io.gfile reaches, e.g. gs://bucket/runs/<run-id>/config.json.

    It has no __fspath__: open() or np.save() given one would write a local file named "gs:/...";
    str() is the URL, which TensorFlow's own writers (checkpoints, summaries) take as it is."""

    def __init__(self, url: str):
        match = _URL.match(url)
        if match is None:
            raise ValueError(f"{url!r} is not a URL such as gs://bucket/runs")
        self.scheme, rest = match.group(1), match.group(2).rstrip("/")
        self._url = f"{self.scheme}://{rest}"
        self._rest = rest

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"GPath({self._url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GPath) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    def __lt__(self, other: GPath) -> bool:
        return self._url < other._url

    def __truediv__(self, name: str) -> GPath:
        return GPath(f"{self._url}/{name}")

    # --- names ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._rest.rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def parent(self) -> GPath:
        head, slash, _ = self._rest.rpartition("/")
        return GPath(f"{self.scheme}://{head}") if slash else self

    def with_name(self, name: str) -> GPath:
        return self.parent / name

    def resolve(self) -> GPath:
        return self  # no links, and no '.' or '..' to collapse: run ids never hold them

    # --- what is there --------------------------------------------------------------------
    def exists(self) -> bool:
        return _gfile().exists(self._url)

    def is_dir(self) -> bool:
        return _gfile().isdir(self._url)

    def is_file(self) -> bool:
        return self.exists() and not self.is_dir()

    def is_symlink(self) -> bool:
        return False

    def stat(self) -> SimpleNamespace:
        """st_mtime, st_mtime_ns and st_size; a filesystem that keeps no times (ram://) says 0."""
        with _os_errors(self):
            found = _gfile().stat(self._url)
        return SimpleNamespace(st_mtime=found.mtime_nsec / 1e9, st_mtime_ns=found.mtime_nsec, st_size=found.length)

    def iterdir(self) -> Iterator[GPath]:
        gfile = _gfile()
        with _os_errors(self):
            names = [name.rstrip("/") for name in gfile.listdir(self._url)]
        if self.scheme == "ram":  # TF's ram:// also lists siblings' tails: "x/run-1" lists "-2" of "x/run-1-2"
            held = {found.rsplit("/", 1)[-1] for found in gfile.glob(_glob_escape(self._url) + "/*")}
            names = [name for name in names if name in held]
        return iter([self / name for name in names])

    def glob(self, pattern: str) -> Iterator[GPath]:
        """The children whose name matches `pattern` (one level: no '**', no '/')."""
        return (p for p in self.iterdir() if fnmatchcase(p.name, pattern))

    # --- reading and writing --------------------------------------------------------------
    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        gfile = _gfile()
        with _os_errors(self):
            if gfile.exists(self._url):
                if exist_ok and gfile.isdir(self._url):
                    return
                raise FileExistsError(errno.EEXIST, "File exists", self._url)
            if not parents and not gfile.isdir(self.parent._url):
                raise FileNotFoundError(errno.ENOENT, "No such folder", self.parent._url)
            gfile.makedirs(self._url) if parents else gfile.mkdir(self._url)

    def open(self, mode: str = "r"):
        return _gfile().GFile(self._url, mode)

    def read_bytes(self) -> bytes:
        with _os_errors(self), self.open("rb") as f:
            return f.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> int:
        if self.scheme == "ram":
            self.unlink(missing_ok=True)  # TF's ram:// writes after the old bytes instead of over them
        with _os_errors(self), self.open("wb") as f:
            f.write(data)
        return len(data)

    def write_text(self, text: str) -> int:
        return self.write_bytes(text.encode())

    def replace(self, target: GPath) -> GPath:
        replace(self, target)
        return target

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            with _os_errors(self):
                _gfile().remove(self._url)
        except FileNotFoundError:
            if not missing_ok:
                raise


def _glob_escape(url: str) -> str:
    return re.sub(r"([*?\[\]])", r"[\1]", url)


def replace(src: Path | GPath, dst: Path | GPath) -> None:
    """Rename file `src` to `dst`, replacing it: atomic on a local disk; in a bucket, a copy and a delete."""
    if isinstance(src, GPath):
        with _os_errors(src):
            _gfile().rename(str(src), str(dst), overwrite=True)
    else:
        os.replace(src, dst)


def rmtree(path: Path | GPath, ignore_errors: bool = False) -> None:
    if not isinstance(path, GPath):
        shutil.rmtree(path, ignore_errors=ignore_errors)
        return
    import tensorflow as tf

    try:
        with _os_errors(path):
            try:
                tf.io.gfile.rmtree(str(path))
            except tf.errors.NotFoundError:
                # ram:// fails on the siblings' tails it lists (see GPath.iterdir) after deleting all it holds.
                if path.scheme != "ram" or tf.io.gfile.glob(_glob_escape(str(path))):
                    raise
    except OSError:
        if not ignore_errors:
            raise


def append_text(path: Path | GPath, text: str) -> None:
    """Add `text` at the end of the file (created if missing)."""
    if not isinstance(path, GPath):
        with path.open("a") as f:
            f.write(text)
        return
    import tensorflow as tf

    with _os_errors(path):
        try:
            with path.open("a") as f:
                f.write(text)
        except tf.errors.UnimplementedError:
            # Some stores cannot append (S3 objects, like GCS ones, are immutable; TF's GCS filesystem
            # rewrites the object itself): read and write the whole file.
            old = path.read_bytes() if path.exists() else b""
            path.write_bytes(old + text.encode())


@contextmanager
def local_copy(path: GPath, max_bytes: int) -> Iterator[Path]:
    """A local copy of file `path`, for readers that take local files only (zipfile, h5py, Keras), removed
    afterwards. OSError, before anything is copied, for a file over `max_bytes`."""
    size = path.stat().st_size
    if size > max_bytes:
        raise OSError(errno.EFBIG, f"{size:,} bytes, more than the {max_bytes:,} this reads", str(path))
    with tempfile.TemporaryDirectory(prefix="gan-studio-") as folder:
        local = Path(folder) / path.name
        local.write_bytes(path.read_bytes())
        yield local

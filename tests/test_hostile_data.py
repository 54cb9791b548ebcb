"""Hostile data: every bad .npz (by the CLI's path or the Train page's upload) and every bad upload is refused
with a message saying what to do; nothing is unpickled, nothing large is read, uploads do not pile up."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app import uploads
from gan_core import data
from gan_core.data import DatasetError
from tests.conftest import refused_npz

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this creates the marker file: proof that something was unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled_npz(path: Path, marker: Path, **extra) -> Path:
    """An .npz whose array is an object array holding the payload (np.savez pickles it)."""
    bomb = np.empty(1, dtype=object)
    bomb[0] = Payload(marker)
    np.savez(path, **{"images": bomb, **extra})
    return path


def npy_bytes(header: dict, payload: bytes) -> bytes:
    """A .npy file by hand: any header (including lies about its shape), then `payload`."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + payload


def zipped(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


refused = refused_npz  # loading raises DatasetError naming the file and saying every word


# ------------------------------------------------------------------ pickles: never unpickled
def test_the_payload_works_so_the_next_tests_mean_something(tmp_path):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(Payload(control)))
    assert control.exists()


@pytest.mark.parametrize("load", [data.load_dataset, data.load_images, data.image_shape])
def test_a_pickled_object_array_is_refused_without_unpickling(tmp_path, load):
    marker = tmp_path / "unpickled"
    path = pickled_npz(tmp_path / "evil.npz", marker)
    refused(path, "Python objects", "not unpickled", "np.savez", load=load)
    assert not marker.exists()


def test_pickled_labels_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    bomb = np.empty(4, dtype=object)
    bomb[:] = [Payload(marker)] * 4
    path = tmp_path / "labels.npz"
    np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=bomb)
    refused(path, "Python objects")
    assert not marker.exists()


def test_a_plain_pickle_or_pickled_npy_is_not_an_npz(tmp_path):
    marker = tmp_path / "unpickled"
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps(Payload(marker)))
    refused(raw, "not a valid .npz")
    npy = tmp_path / "npy.npz"
    bomb = np.empty(1, dtype=object)
    bomb[0] = Payload(marker)
    np.save(npy.open("wb"), bomb, allow_pickle=True)
    refused(npy, "single .npy array")
    assert not marker.exists()


def test_a_ragged_array_is_an_object_array_and_says_so(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros((8, 8)), np.zeros((9, 9))]
    path = tmp_path / "ragged.npz"
    np.savez(path, images=ragged)
    refused(path, "ragged", "same-size images", "np.stack")


def test_the_cli_refuses_a_pickle_too(tmp_path):
    marker = tmp_path / "unpickled"
    path = pickled_npz(tmp_path / "evil.npz", marker)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "gan_core", "train", "--dataset", "npz", "--npz-path", str(path)]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "runs"), "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 1
    assert "Python objects" in done.stderr and "run failed" in done.stderr
    assert not marker.exists()
    assert not list((tmp_path / "runs").glob("*/config.json"))  # the data is checked before a run folder exists


# ------------------------------------------------------------------ dtypes, shapes, values
@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros((2, 8, 8), np.complex64), ("non-numeric", "complex64")),
        (np.zeros((2, 8, 8), bool), ("non-numeric", "bool")),
        (np.full((2, 8, 8), b"a"), ("non-numeric", "S1")),
        (np.zeros((2, 8, 8), "datetime64[s]"), ("non-numeric", "datetime64")),
        (np.zeros((2, 8, 8), [("r", "u1"), ("g", "u1")]), ("non-numeric",)),
        (np.zeros((2, 8, 8, 4), np.uint8), ("(2, 8, 8, 4)", "accepted shapes")),
        (np.zeros((2, 0, 8), np.uint8), ("0x8", "between 8 and 256")),
        (np.zeros((0, 8, 8), np.uint8), ("empty",)),
        (np.zeros(()), ("()", "accepted shapes")),
        (np.full((2, 8, 8), -np.inf, np.float32), ("NaN or inf",)),
        (np.full((2, 8, 8), np.nan, np.float16), ("NaN or inf",)),
        (np.full((2, 8, 8), 1e30), ("0..255",)),
        (np.full((2, 8, 8), 2**40, np.int64), ("0..255",)),
    ],
)
def test_bad_pixels_are_refused(tmp_path, array, words):
    path = tmp_path / "bad.npz"
    np.savez(path, images=array)
    refused(path, *words)


def test_several_arrays_of_different_sizes_say_their_shapes(tmp_path):
    path = tmp_path / "mixed.npz"
    np.savez(path, small=np.zeros((3, 8, 8), np.uint8), big=np.zeros((3, 16, 16), np.uint8))
    refused(path, "several arrays", "(3, 8, 8)", "(3, 16, 16)", "same-size images", "'images'")


@pytest.mark.parametrize(
    "labels, words",
    [
        (np.array([0, 1, 2]), ("3 labels for 4 images",)),
        (np.array([0.0, 1.0, 2.0, 3.0]), ("labels must be integers",)),
        (np.array([True, False, True, False]), ("labels must be integers",)),
        (np.array(["0", "1", "2", "3"]), ("labels must be integers",)),
        (np.zeros((4, 2), np.int64), ("labels must be integers, one per image",)),
        (np.array([0, -1, 2, 3]), ("labels must be 0..999",)),
        (np.array([0, 1, 2, 5000], np.uint16), ("labels must be 0..999",)),
    ],
)
def test_bad_labels_are_refused(tmp_path, labels, words):
    path = tmp_path / "labelled.npz"
    np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=labels)
    refused(path, *words)


# ------------------------------------------------------------------ files that lie or are broken
def test_a_huge_declared_shape_is_refused_from_the_header_alone(tmp_path):
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**9, 256, 256, 3)}
    path = zipped(tmp_path / "huge.npz", {"images.npy": npy_bytes(header, b"\0" * 64)}, zipfile.ZIP_DEFLATED)
    for load in (data.load_dataset, data.image_shape):
        refused(path, "declares shape (1000000000, 256, 256, 3)", "larger than the 200.0 MiB limit", load=load)


def test_huge_declared_labels_are_refused_from_the_header_alone(tmp_path):
    images = npy_bytes({"descr": "|u1", "fortran_order": False, "shape": (4, 8, 8)}, bytes(256))
    labels = npy_bytes({"descr": "<i8", "fortran_order": False, "shape": (10**12,)}, bytes(32))
    path = zipped(tmp_path / "huge-labels.npz", {"images.npy": images, "labels.npy": labels})
    refused(path, "declares shape (1000000000000,)", "limit")


def test_a_member_holding_less_than_its_header_declares_is_truncated(tmp_path):
    header = {"descr": "|u1", "fortran_order": False, "shape": (100, 28, 28)}
    path = zipped(tmp_path / "short.npz", {"images.npy": npy_bytes(header, bytes(28 * 28))})
    refused(path, "holds only 784 bytes", "truncated")


def test_a_truncated_file_is_refused(tmp_path):
    whole = tmp_path / "whole.npz"
    np.savez(whole, images=np.zeros((50, 28, 28), np.uint8))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    refused(cut, "not a valid .npz", "truncated")


def test_a_zip_that_is_not_an_npz(tmp_path):
    refused(zipped(tmp_path / "notes.npz", {"notes.txt": b"hello"}), "holds no arrays", "np.savez")
    broken = zipped(tmp_path / "fake.npz", {"images.npy": b"not an npy header at all"})
    refused(broken, "could not be read", "save it again")


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez(path, images=np.zeros((40, 28, 28), np.uint8))
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 1000)
    refused(path, "larger than the 1,000 bytes limit")


def test_an_array_over_the_limit_once_uncompressed_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, images=np.zeros((100, 64, 64), np.uint8))  # 400 KiB of zeros, a few KiB on disk
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 100 * 1024)
    assert path.stat().st_size < 100 * 1024
    refused(path, "once uncompressed", "limit")


# ------------------------------------------------------------------ paths given on the command line
def test_a_path_with_nul_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="NUL"):
        data.load_dataset("npz", str(tmp_path / "a\0b.npz"))


def test_only_regular_files_are_read(tmp_path):
    refused(tmp_path, "not a regular file")
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")  # reading it would hang
    refused(Path("/dev/zero"), "not a regular file")  # reading it would never end
    refused(tmp_path / ("x" * 300), "cannot be opened")  # a name too long


def test_a_link_to_a_good_file_is_used_as_given(tmp_path):
    target = tmp_path / "real.npz"
    np.savez(target, images=np.zeros((2, 8, 8), np.uint8))
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    assert data.image_shape("npz", str(link)) == (8, 8, 1)


# ------------------------------------------------------------------ uploads: named safely, bounded
@pytest.mark.parametrize(
    "name, saved",
    [
        ("digits.npz", "digits.npz"),
        ("../../etc/passwd", "passwd.npz"),
        ("..\\..\\boot.ini", "boot.ini.npz"),
        ("/abs/path/x.npz", "x.npz"),
        ("..", "upload.npz"),
        (".hidden.npz", "hidden.npz"),
        ("a\0b c;$(rm -rf).npz", "a_b_c___rm_-rf_.npz"),
        ("ünïcødé.npz", "_n_c_d_.npz"),
        ("x" * 500 + ".npz", "x" * uploads.MAX_NAME + ".npz"),
    ],
)
def test_upload_names_are_plain_file_names(name, saved):
    assert uploads.safe_name(name, ".npz") == saved


def test_uploads_keep_the_newest_five_of_a_kind(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("not an upload")
    for i in range(8):
        uploads.save(tmp_path, f"u{i}.npz", b"x" * 10, ".npz")
        os.utime(tmp_path / f"u{i}.npz", ns=(i * 10**9, i * 10**9))  # distinct ages, whatever the clock
    uploads.save(tmp_path, "u7.npz", b"again", ".npz")  # the same name again is one file, the newest
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["u3.npz", "u4.npz", "u5.npz", "u6.npz", "u7.npz"]
    assert (tmp_path / "u7.npz").read_bytes() == b"again"
    assert other.exists()  # other kinds are left alone


def test_uploads_are_bounded_in_total_size_and_the_new_one_stays(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_TOTAL_BYTES", 250)
    uploads.save(tmp_path, "a.npz", b"a" * 100, ".npz")
    time.sleep(0.01)
    uploads.save(tmp_path, "b.npz", b"b" * 100, ".npz")
    time.sleep(0.01)
    uploads.save(tmp_path, "c.npz", b"c" * 100, ".npz")
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["b.npz", "c.npz"]


def test_an_upload_over_the_limit_is_refused_and_not_written(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 2**20)
    with pytest.raises(uploads.UploadError, match="big.npz is 1.5 MB, larger than the 1 MB upload limit"):
        uploads.save(tmp_path, "big.npz", bytes(3 * 2**19), ".npz")
    assert not any(tmp_path.iterdir())


def test_pruning_leaves_links_and_their_targets_alone_and_clears_crashed_writes(tmp_path):
    outside = tmp_path / "outside.npz"
    outside.write_bytes(b"keep me")
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "link.npz").symlink_to(outside)
    crashed = folder / f"{uploads.PART}abc"
    crashed.write_bytes(b"half")
    os.utime(crashed, (0, 0))
    for i in range(7):
        uploads.save(folder, f"u{i}.npz", b"x", ".npz")
    assert outside.read_bytes() == b"keep me" and (folder / "link.npz").is_symlink()
    assert not crashed.exists()
    assert len(list(folder.glob("u*.npz"))) == uploads.KEEP


def test_the_temporary_upload_folder_must_be_ours(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "planted").symlink_to(elsewhere)
    with pytest.raises(uploads.UploadError, match="not a folder of this user's"):
        uploads.temp_folder("planted")
    assert uploads.temp_folder("fresh").stat().st_mode & 0o777 == 0o700


# ------------------------------------------------------------------ the Train page's uploader
@pytest.fixture
def train_page(tmp_path, monkeypatch):
    """The Train page over an empty runs folder, showing the .npz uploader."""
    import streamlit as st

    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path))
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=90).run()
    at.selectbox(key="knob-dataset").set_value("npz").run()
    yield at
    st.cache_resource.clear()


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader(key="npz-upload").set_value((name, content, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def test_the_train_page_saves_a_hostile_name_inside_the_uploads_folder(train_page, tmp_path):
    good = io.BytesIO()
    np.savez(good, images=np.zeros((20, 8, 8), np.uint8))
    upload(train_page, "../../../escape me;.npz", good.getvalue())  # Streamlit itself refuses a NUL in the name
    saved = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert saved == ["uploads/escape_me_.npz"]
    assert "escape_me_.npz: images of 8x8x1" in [c.value for c in train_page.caption]


def test_the_train_page_refuses_an_upload_over_the_limit(train_page, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 2**20)
    upload(train_page, "big.npz", bytes(2 * 2**20))
    assert "larger than the 1 MB upload limit" in train_page.error[0].value
    assert not (tmp_path / "uploads" / "big.npz").exists()


def test_the_train_page_shows_why_a_pickle_is_refused(train_page, tmp_path):
    marker = tmp_path / "unpickled"
    content = pickled_npz(tmp_path / "evil.npz", marker).read_bytes()
    upload(train_page, "evil.npz", content)
    assert "not unpickled" in train_page.error[0].value
    assert not marker.exists()


def test_the_explore_page_refuses_a_generator_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 2**20)
    at = AppTest.from_file(str(ROOT / "pages" / "explore.py"), default_timeout=60).run()
    at.file_uploader[0].set_value(("gen.keras", bytes(2 * 2**20), "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert "not used. The file is 2.0 MB, larger than the 1 MB upload limit; generators" in at.error[0].value
    assert not list(tmp_path.rglob("*.keras"))  # nothing was written

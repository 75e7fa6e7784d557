"""One contract for the image and object stores: the file store and the in-memory fake pass the same tests."""
from __future__ import annotations

import hashlib
import io

import pytest

from services.storage.stores.base import UploadAborted
from services.storage.stores.file import FileStore
from services.storage.stores.memory import MemoryStore


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):
    return FileStore(tmp_path / "store") if request.param == "file" else MemoryStore()


class Trickle(io.RawIOBase):
    """A stream that hands out at most `step` bytes a read, as a socket does."""

    def __init__(self, data: bytes, step: int = 7):
        self.data, self.pos, self.step = data, 0, step

    def read(self, n=-1):
        n = self.step if n < 0 else min(n, self.step)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


DATA = bytes(range(256)) * 40


def test_put_streams_and_reports_size_and_digests(store):
    w = store.put("a", Trickle(DATA), hashes=("md5", "sha512"))
    assert w.size == len(DATA)
    assert w.digests == {"md5": hashlib.md5(DATA).hexdigest(), "sha512": hashlib.sha512(DATA).hexdigest()}
    assert store.exists("a") and store.size("a") == len(DATA)
    with store.open("a") as fh:
        assert fh.read() == DATA


def test_read_gives_a_byte_range_in_chunks(store):
    store.put("a", io.BytesIO(DATA))
    assert b"".join(store.read("a")) == DATA
    assert b"".join(store.read("a", 10, 100)) == DATA[10:110]
    assert b"".join(store.read("a", len(DATA) - 5)) == DATA[-5:]
    chunks = list(store.read("a", 0, None, chunk=1000))
    assert max(len(c) for c in chunks) <= 1000 and b"".join(chunks) == DATA


@pytest.mark.parametrize("kw", [{"expected": len(DATA) + 1}, {"limit": len(DATA) - 1}])
def test_a_put_out_of_bounds_leaves_nothing(store, kw):
    store.put("a", io.BytesIO(b"old"))
    with pytest.raises(UploadAborted):
        store.put("a", io.BytesIO(DATA), **kw)
    with pytest.raises(UploadAborted):
        store.put("b", io.BytesIO(DATA), **kw)
    assert store.list() == ["a"] and b"".join(store.read("a")) == b"old" and not store.exists("b")


def test_verify_sees_the_complete_data_before_it_is_visible_and_can_refuse_it(store):
    seen = []

    def verify(path):
        seen.append((path.read_bytes(), store.exists("a")))
        return "ok"

    assert store.put("a", io.BytesIO(DATA), verify=verify).verified == "ok"
    assert seen == [(DATA, False)]

    def refuse(path):
        raise ValueError("bad format")

    with pytest.raises(ValueError):
        store.put("a", io.BytesIO(b"new"), verify=refuse)
    assert b"".join(store.read("a")) == DATA and store.list() == ["a"]


def test_an_open_reader_survives_a_replace_and_a_delete(store):
    store.put("a", io.BytesIO(b"first"))
    fh = store.open("a")
    store.put("a", io.BytesIO(b"second"))
    assert b"".join(store.read("a")) == b"second"
    store.delete("a")
    with fh:
        assert fh.read() == b"first"


def test_delete_is_idempotent_and_missing_names_raise_file_not_found(store):
    store.put("a", io.BytesIO(b"x"))
    store.delete("a")
    store.delete("a")
    assert not store.exists("a")
    for call in (lambda: store.open("a"), lambda: store.size("a"), lambda: list(store.read("a"))):
        with pytest.raises(FileNotFoundError):
            call()


def test_names_in_folders_are_listed_by_prefix(store):
    store.create_folder("b1")
    store.put("b1/x", io.BytesIO(b"1"))
    store.put("b1/y", io.BytesIO(b"2"))
    store.put("b2/z", io.BytesIO(b"3"))
    assert store.list("b1/") == ["b1/x", "b1/y"]
    assert store.list() == ["b1/x", "b1/y", "b2/z"]
    assert store.sweep("b1/") == 0 and store.list("b1/") == ["b1/x", "b1/y"]
    store.remove_folder("b1/")  # not empty: the names stay
    assert store.list("b1/") == ["b1/x", "b1/y"]
    store.delete("b1/x")
    store.delete("b1/y")
    store.remove_folder("b1/")
    assert store.list("b1/") == []


def test_concat_joins_parts_in_order(store):
    store.put("b/p1", io.BytesIO(b"abc"))
    store.put("b/p2", io.BytesIO(DATA))
    assert store.concat("b/whole", ["b/p1", "b/p2"]) == 3 + len(DATA)
    assert b"".join(store.read("b/whole")) == b"abc" + DATA
    assert store.exists("b/p1")  # the parts are the caller's to delete


def test_local_path_is_a_file_with_the_data(store):
    store.put("a", io.BytesIO(DATA))
    with store.local_path("a") as path:
        assert path.read_bytes() == DATA

"""Content ids of the curate job's inputs: hashed on threads, remembered by file stamp across runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import pipeline.curate.input_ids as input_ids
from pipeline.curate.input_ids import CACHE_FILE, content_ids
from pipeline.decode import file_sha256


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    paths = []
    for k in range(5):
        p = tmp_path / f"v{k}.mp4"
        p.write_bytes(os.urandom(3000 + k))
        paths.append(str(p))
    return paths


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []

    def counting(path: str) -> str:
        read.append(path)
        return file_sha256(path)

    monkeypatch.setattr(input_ids, "file_sha256", counting)
    return read


def test_ids_are_the_files_sha256_on_any_thread_count(files: list[str], tmp_path: Path) -> None:
    for threads in (1, 3):
        ids = content_ids(files, None, threads=threads)
        assert ids.ids == {p: file_sha256(p) for p in files}
        total = sum(os.path.getsize(p) for p in files)
        assert (ids.hashed, ids.remembered, ids.bytes_hashed) == (5, 0, total)


def test_a_rerun_reads_only_the_files_that_changed(
    files: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "work" / CACHE_FILE
    first = content_ids(files, cache)
    read = _count_reads(monkeypatch)
    again = content_ids(files, cache)
    assert read == [] and again.ids == first.ids and again.remembered == 5

    changed = Path(files[2])
    changed.write_bytes(os.urandom(3002))  # same size, new content and modification time
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = content_ids(files, cache)
    assert read == [files[2]]
    assert third.ids[files[2]] == file_sha256(files[2]) != first.ids[files[2]]
    assert third.ids[files[0]] == first.ids[files[0]] and (third.hashed, third.remembered) == (1, 4)


def test_unreadable_inputs_are_reported_and_bad_caches_ignored(files: list[str], tmp_path: Path) -> None:
    cache = tmp_path / CACHE_FILE
    cache.write_text("{not json")
    gone, folder = str(tmp_path / "gone.mp4"), str(tmp_path / "a_folder.mp4")
    os.mkdir(folder)
    ids = content_ids([*files, gone, folder], cache)
    assert isinstance(ids.ids[gone], FileNotFoundError)
    assert isinstance(ids.ids[folder], IsADirectoryError)
    assert all(ids.ids[p] == file_sha256(p) for p in files)
    stored = json.loads(cache.read_text())
    assert sorted(stored["files"]) == sorted(files)  # errors are not remembered
    stored["format"] = -1
    cache.write_text(json.dumps(stored))
    assert content_ids(files, cache).hashed == 5  # another format: read again


def test_progress_is_reported_per_file_read(files: list[str], tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    cache = tmp_path / CACHE_FILE
    content_ids(files, cache, threads=2, on_hashed=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 5) for k in range(1, 6)]
    seen.clear()
    content_ids(files, cache, on_hashed=lambda done, total: seen.append((done, total)))
    assert seen == []  # nothing to read

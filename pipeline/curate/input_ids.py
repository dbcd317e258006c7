"""Content ids of the curate job's inputs: the sha256 of each file, read on several threads and remembered in
``<out>/work/input_ids.json`` under the file's stat stamp (size, modification time, inode, device).

The ids name the staging folders and the sample keys, so the driver needs every one of them before the first task
starts. Hashing a large corpus is the driver reading all of it; a rerun after a crash would read it all again
before resuming. With the cache a rerun reads only the files that changed since (a file rewritten in place gets
a new modification time). ``--restart`` removes ``work/`` and the cache with it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.decode import file_sha256

log = logging.getLogger(__name__)

CACHE_FILE = "input_ids.json"
#: Bumped when the id function or the file layout changes; a cache of another format is ignored.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class FileStamp:
    """What identifies one version of a file without reading it."""

    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: str) -> FileStamp:
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


@dataclass
class InputIds:
    """The sha256 of each input path, or the OSError that stopped it from being read."""

    ids: dict[str, str | OSError]
    hashed: int = 0  # files read by this run
    remembered: int = 0  # ids taken from the cache
    bytes_hashed: int = 0
    seconds: float = 0.0


def _load(cache: Path) -> dict[str, dict]:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    if (
        not isinstance(data, dict)
        or data.get("format") != CACHE_FORMAT
        or not isinstance(data.get("files"), dict)
    ):
        return {}
    return data["files"]


def _save(cache: Path, files: dict[str, dict]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    tmp.write_text(json.dumps({"format": CACHE_FORMAT, "files": files}, sort_keys=True))
    os.replace(tmp, cache)


def _entry(stamp: FileStamp, sha256: str) -> dict:
    return {**dataclasses.asdict(stamp), "sha256": sha256}


def _matches(entry: dict, stamp: FileStamp) -> bool:
    """Whether a remembered ``entry`` was made from the file version ``stamp`` describes."""
    same = all(entry.get(k) == v for k, v in dataclasses.asdict(stamp).items())
    return same and isinstance(entry.get("sha256"), str)


def default_threads() -> int:
    """Files hashed at once: the CPUs, at most 8 (sha256 releases the GIL; more threads than that mostly
    queue on the disk)."""
    return max(1, min(8, os.cpu_count() or 1))


def content_ids(
    paths: Sequence[str],
    cache: Path | None = None,
    threads: int = 0,
    on_hashed: Callable[[int, int], None] | None = None,
) -> InputIds:
    """The sha256 of every file of ``paths`` (hex), reusing the ids in ``cache`` whose stamp still matches and
    writing the cache back (``None``: no cache). ``threads``: files read at once (0: :func:`default_threads`).
    ``on_hashed(done, total)`` is called once per file read, in the order of ``paths``."""
    t0 = time.monotonic()
    known = _load(cache) if cache is not None else {}
    result = InputIds(ids={})
    todo: list[tuple[str, FileStamp]] = []
    for path in paths:
        try:
            stamp = FileStamp.of(path)
        except OSError as exc:
            result.ids[path] = exc
            continue
        entry = known.get(path)
        if entry is not None and _matches(entry, stamp):
            result.ids[path] = entry["sha256"]
            result.remembered += 1
        else:
            todo.append((path, stamp))

    def hash_one(item: tuple[str, FileStamp]) -> tuple[str, FileStamp, str | OSError]:
        path, stamp = item
        try:
            return path, stamp, file_sha256(path)
        except OSError as exc:
            return path, stamp, exc

    if todo:
        with ThreadPoolExecutor(threads or default_threads(), thread_name_prefix="input-sha256") as pool:
            for done, (path, stamp, sha) in enumerate(pool.map(hash_one, todo), 1):
                result.ids[path] = sha
                if isinstance(sha, str):
                    known[path] = _entry(stamp, sha)
                    result.hashed += 1
                    result.bytes_hashed += stamp.size
                if on_hashed is not None:
                    on_hashed(done, len(todo))
        if cache is not None:
            try:
                _save(cache, known)
            except OSError as exc:  # the ids are right; only the next run's shortcut is lost
                log.warning("could not remember the input ids in %s: %s", cache, exc)
    result.seconds = time.monotonic() - t0
    return result

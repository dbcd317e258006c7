"""WebDataset shards: the format the curate job writes and the trainer reads.

One sample per kept clip. Its key is derived from content, ``<video_id[:16]>_<start_frame:07d>_<end_frame:07d>``
(no dots: WebDataset splits the key from the extension at the first dot), so reruns give the same keys. Members:

- ``mp4``       the clip, re-encoded (see :class:`pipeline.clips.ClipEncoding`).
- ``json``      metadata (:class:`SampleMetadata` as a dict): source, frame span, times, scores, tags with
                confidences and sources, the missing fields with reasons, the directive, the taxonomy version,
                the tier and the long-tail rebalancing weight.
- ``tags.json`` what the tag encoder reads: ``{"taxonomy_version", "tags": ["field=value", ...],
                "tag_ids": [...], "field_ids": [...]}`` with ids from :class:`taxonomy.TagVocab`.
- ``txt``       the free-text channel (the directive's description) for the T5 encoder.
- ``jpg``       a thumbnail of the clip's middle frame.
- ``emb.npy``   the clip embedding (float32), only where an embedding model ran.

:class:`ShardWriter` writes ``<prefix>-<NNNNNN>.tar`` files of about ``target_bytes`` each. A shard is written
under ``<name>.tar.partial`` and renamed only when closed, so a final-named tar is always complete; tar members
carry fixed mtimes, owners and modes so the same samples give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Member extensions in the order they are written.
MEMBER_ORDER = ("mp4", "json", "tags.json", "txt", "jpg", "emb.npy")
_KEY_RE = re.compile(r"^[0-9a-f]{16}_\d{7,}_\d{7,}$")
PARTIAL_SUFFIX = ".partial"


def sample_key(video_id: str, start_frame: int, end_frame: int) -> str:
    """The stable sample key of a clip (also the ``clip_id`` of the manifest)."""
    vid = video_id[:16].lower()
    if not re.fullmatch(r"[0-9a-f]{16}", vid):
        raise ValueError(f"video_id must start with 16 hex digits (a sha256), got {video_id!r}")
    if not 0 <= start_frame <= end_frame:
        raise ValueError(f"bad frame span {start_frame}..{end_frame}")
    return f"{vid}_{start_frame:07d}_{end_frame:07d}"


def check_key(key: str) -> str:
    """Refuse keys that could name a path outside the shard or collide with WebDataset's key/extension split."""
    if not _KEY_RE.match(key):
        raise ValueError(f"sample key {key!r} is not '<16 hex>_<start>_<end>'")
    return key


@dataclass
class SampleMetadata:
    """The ``json`` member of a sample."""

    key: str
    video_id: str
    source_path: str
    shot_id: str
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    fps: str
    width: int
    height: int
    frames: int
    taxonomy_version: str
    tags: dict[str, list[str]] = field(default_factory=dict)
    #: ``{"field=value": confidence}``
    confidences: dict[str, float] = field(default_factory=dict)
    #: ``{"field=value": expert}``
    sources: dict[str, str] = field(default_factory=dict)
    #: ``{field: reason}`` for fields with no tag (never fabricated).
    missing: dict[str, str] = field(default_factory=dict)
    directive: str | None = None
    summary: str | None = None
    description: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    tier: str | None = None
    weight: float | None = None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, allow_nan=False).encode()


@dataclass
class ShardSample:
    """One sample to write: the clip bytes and its metadata; the other members are derived."""

    metadata: SampleMetadata
    mp4: bytes
    tag_ids: list[int]
    field_ids: list[int]
    jpg: bytes | None = None
    embedding: np.ndarray | None = None

    @property
    def key(self) -> str:
        return self.metadata.key

    def members(self) -> list[tuple[str, bytes]]:
        meta = self.metadata
        tags = [f"{f}={v}" for f, values in meta.tags.items() for v in values]
        tags_json = {
            "taxonomy_version": meta.taxonomy_version,
            "tags": tags,
            "tag_ids": [int(i) for i in self.tag_ids],
            "field_ids": [int(i) for i in self.field_ids],
        }
        out: list[tuple[str, bytes]] = [
            ("mp4", self.mp4),
            ("json", meta.to_json()),
            ("tags.json", json.dumps(tags_json, sort_keys=True).encode()),
            ("txt", (meta.description or "").encode()),
        ]
        if self.jpg is not None:
            out.append(("jpg", self.jpg))
        if self.embedding is not None:
            buf = io.BytesIO()
            np.save(buf, np.asarray(self.embedding, dtype=np.float32), allow_pickle=False)
            out.append(("emb.npy", buf.getvalue()))
        return out


def shard_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:06d}.tar"


class ShardWriter:
    """Writes samples into size-bounded tar shards in ``directory``; see the module doc for the guarantees.

    ``on_shard_closed(name, keys)`` is called after each rename, which is where the caller records which keys a
    finished shard holds (the resume ledger).
    """

    def __init__(
        self,
        directory: str | Path,
        prefix: str = "shard",
        target_bytes: int = 256 << 20,
        start_index: int = 0,
        on_shard_closed: Any = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.target_bytes = int(target_bytes)
        self.index = start_index
        self.on_shard_closed = on_shard_closed
        self._tar: tarfile.TarFile | None = None
        self._fh: Any = None
        self._bytes = 0
        self._keys: list[str] = []
        self.closed_shards: list[str] = []

    @property
    def current_name(self) -> str:
        return shard_name(self.prefix, self.index)

    def _open(self) -> None:
        path = self.directory / (self.current_name + PARTIAL_SUFFIX)
        self._fh = open(path, "wb")  # noqa: SIM115 (closed in _close)
        self._tar = tarfile.open(fileobj=self._fh, mode="w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
        self._bytes = 0
        self._keys = []

    def write(self, sample: ShardSample) -> str:
        """Add one sample; returns the name of the shard it went into."""
        check_key(sample.key)
        if self._tar is None:
            self._open()
        assert self._tar is not None
        for ext, data in sample.members():
            info = tarfile.TarInfo(f"{sample.key}.{ext}")
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))
            self._bytes += 512 + len(data) + (-len(data) % 512)
        self._keys.append(sample.key)
        name = self.current_name
        if self._bytes >= self.target_bytes:
            self._close()
        return name

    def _close(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        name = self.current_name
        os.replace(self.directory / (name + PARTIAL_SUFFIX), self.directory / name)
        self.closed_shards.append(name)
        keys = self._keys
        self._tar = self._fh = None
        self._keys = []
        self.index += 1
        if self.on_shard_closed is not None:
            self.on_shard_closed(name, keys)

    def close(self) -> None:
        """Finish the open shard (if any)."""
        self._close()

    def abort(self) -> None:
        """Drop the open shard's partial file (its samples were never final)."""
        if self._tar is not None:
            self._tar.close()
            self._fh.close()
            (self.directory / (self.current_name + PARTIAL_SUFFIX)).unlink(missing_ok=True)
            self._tar = self._fh = None
            self._keys = []

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def remove_partial_shards(directory: str | Path) -> list[Path]:
    """Delete leftover ``*.tar.partial`` files of an interrupted run; returns what was removed."""
    removed = []
    for p in sorted(Path(directory).glob(f"*.tar{PARTIAL_SUFFIX}")):
        p.unlink()
        removed.append(p)
    return removed


def iter_shard(path: str | Path) -> Iterator[dict[str, bytes]]:
    """Samples of one shard as ``{"__key__": key, ext: bytes}`` (plain tarfile; the trainer uses webdataset)."""
    current: dict[str, Any] = {}
    with tarfile.open(path) as tar:
        for info in tar:
            key, _, ext = info.name.partition(".")
            if current and current["__key__"] != key:
                yield current
                current = {}
            f = tar.extractfile(info)
            current.setdefault("__key__", key)
            current[ext] = f.read() if f is not None else b""
    if current:
        yield current


def read_tags(sample: Mapping[str, bytes]) -> dict[str, Any]:
    return json.loads(sample["tags.json"])

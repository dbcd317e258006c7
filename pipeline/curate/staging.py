"""Per-video staging: where a map task leaves its results, and how a rerun knows a video is done.

``<out>/work/videos/<video_id>.partial/`` is written while a video is processed (clips, thumbnails, embeddings)
and renamed to ``<out>/work/videos/<video_id>/`` when ``result.pkl`` is complete. A folder without ``.partial``
is therefore a finished video; a ``.partial`` folder is the leftover of a crash and is started over.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.faults import fault_point

if TYPE_CHECKING:
    from pipeline.curate.video_task import VideoResult

RESULT_FILE = "result.pkl"
#: Bumped whenever VideoResult changes shape, so an old staging folder is recomputed rather than misread.
RESULT_FORMAT = 1


def videos_dir(out: Path) -> Path:
    return Path(out) / "work" / "videos"


def final_dir(out: Path, video_id: str) -> Path:
    return videos_dir(out) / video_id


def partial_dir(out: Path, video_id: str) -> Path:
    return videos_dir(out) / f"{video_id}.partial"


def start_partial(out: Path, video_id: str) -> Path:
    """A fresh ``.partial`` folder for ``video_id`` (a leftover one is removed first)."""
    p = partial_dir(out, video_id)
    if p.exists():
        shutil.rmtree(p)
    (p / "clips").mkdir(parents=True)
    return p


def commit(out: Path, video_id: str, result: VideoResult) -> Path:
    """Write ``result.pkl`` into the partial folder, fsync it, and rename the folder to its final name."""
    p = partial_dir(out, video_id)
    p.mkdir(parents=True, exist_ok=True)
    tmp = p / (RESULT_FILE + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump((RESULT_FORMAT, result), fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    fault_point("staging.result_written")
    tmp.replace(p / RESULT_FILE)
    final = final_dir(out, video_id)
    if final.exists():  # a duplicate task of the same content finished first; keep one
        shutil.rmtree(p)
        return final
    os.replace(p, final)
    return final


def load(out: Path, video_id: str) -> VideoResult | None:
    """The finished result of ``video_id``, or None when the video has not finished (or was staged by an
    incompatible version)."""
    path = final_dir(out, video_id) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            fmt, result = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, ImportError):
        return None
    return result if fmt == RESULT_FORMAT else None


def clear_partials(out: Path) -> list[Path]:
    """Remove the ``.partial`` leftovers of a crashed run."""
    removed = []
    root = videos_dir(out)
    if root.is_dir():
        for p in sorted(root.glob("*.partial")):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed

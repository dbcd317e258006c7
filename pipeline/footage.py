"""A footage folder: video files, their optional frame labels, and a summary of both.

Layout (the same for ``../shared/footage`` and for synthetic output)::

    DIR/<clip>.mp4 | .gif | ...     the videos
    DIR/labels/<clip-stem>.json     optional frame-by-frame labels (pipeline.footage_labels)
    DIR/duplicates.json             optional known duplicate pairs
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.decode import VideoError, count_frames, probe
from pipeline.footage_labels import FootageLabel, load_label

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".ts", ".m2ts", ".gif", ".flv", ".wmv")


def find_videos(folder: str | Path) -> list[Path]:
    """Video files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def label_path_for(video: Path, labels_dir: Path | None = None) -> Path:
    return (labels_dir or video.parent / "labels") / f"{video.stem}.json"


@dataclass(frozen=True)
class ClipSummary:
    clip: str
    width: int
    height: int
    fps: str
    seconds: float
    frames: int | None  # decoded count when verified, else the container's declared count (may be None)
    frames_verified: bool
    label: FootageLabel | None
    error: str | None = None

    @property
    def label_frames_match(self) -> bool | None:
        if self.label is None or self.frames is None or not self.frames_verified:
            return None
        return self.label.frames == self.frames


@dataclass
class FootageSummary:
    folder: str
    clips: list[ClipSummary] = field(default_factory=list)

    @property
    def labelled(self) -> list[ClipSummary]:
        return [c for c in self.clips if c.label is not None]

    def totals(self) -> dict[str, object]:
        labels = [c.label for c in self.labelled if c.label]
        shots = [s for lab in labels for s in lab.shots]
        return {
            "clips": len(self.clips),
            "unreadable": sum(1 for c in self.clips if c.error),
            "labelled": len(labels),
            "seconds": round(sum(c.seconds for c in self.clips), 2),
            "frames": sum(c.frames or 0 for c in self.clips),
            "shots": len(shots),
            "cuts": sum(len(lab.cuts) for lab in labels),
            "transitions": dict(Counter(t.type for lab in labels for t in lab.transitions)),
            "flashes": dict(Counter(f.type for lab in labels for f in lab.flashes)),
            "camera": dict(Counter(s.camera for s in shots)),
            "timing": dict(Counter(s.timing for s in shots)),
            "shot_size": dict(Counter(s.shot_size for s in shots)),
            "vfx": dict(Counter(v for s in shots for v in s.vfx)),
            "text_overlay": dict(Counter(s.text_overlay for s in shots)),
            "layout": dict(Counter(lab.layout for lab in labels)),
            "style": dict(Counter(lab.style for lab in labels)),
        }


def summarize_footage(
    folder: str | Path,
    labels_dir: str | Path | None = None,
    verify_frames: bool = False,
    progress: Callable[[str], None] | None = None,
) -> FootageSummary:
    """Probe every video (and decode it when ``verify_frames``) and attach its label if one exists."""
    folder = Path(folder)
    labels = Path(labels_dir) if labels_dir else folder / "labels"
    summary = FootageSummary(folder=str(folder))
    for video in find_videos(folder):
        if progress:
            progress(video.name)
        lpath = label_path_for(video, labels)
        label = load_label(lpath) if lpath.exists() else None
        try:
            info = probe(video)
            frames = count_frames(video) if verify_frames else info.declared_frames
        except VideoError as exc:
            summary.clips.append(
                ClipSummary(video.name, 0, 0, "0", 0.0, None, False, label, error=exc.detail)
            )
            continue
        seconds = info.declared_duration_s
        if seconds is None and frames and info.fps:
            seconds = float(frames / info.fps)
        summary.clips.append(
            ClipSummary(
                clip=video.name,
                width=info.width,
                height=info.height,
                fps=str(info.fps),
                seconds=round(seconds or 0.0, 3),
                frames=frames,
                frames_verified=verify_frames,
                label=label,
            )
        )
    return summary

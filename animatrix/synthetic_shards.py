"""Training shards from synthetic footage, in exactly the curate job's format (:mod:`pipeline.shards`).

The path the tests and the CPU proof-run use while the curate job is built: render labelled synthetic footage
(:func:`pipeline.synthetic.generate_footage`), cut every labelled shot into frame-exact clips
(:func:`pipeline.clips.extract_clips`), map each shot's labels to PKS tags with the taxonomy's own
``label_map`` (``Taxonomy.tags_from_labels``; ids from ``Taxonomy.vocab``), compute the long-tail weight
(:func:`pipeline.rebalance.rebalance_weights`) and write WebDataset shards with :class:`pipeline.shards.ShardWriter`.
The text member is the shot's label ``notes`` (what happens in the shot, camera and cadence included).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2

from pipeline.clips import ClipEncoding, ClipSpan, extract_clips, plan_clips
from pipeline.decode import file_sha256
from pipeline.footage_labels import FootageLabel, ShotLabel, load_label
from pipeline.rebalance import rebalance_weights
from pipeline.shards import SampleMetadata, ShardSample, ShardWriter, sample_key
from pipeline.shots.base import Shot
from pipeline.synthetic import SynthConfig, generate_footage
from pipeline.timebase import fraction_to_json
from taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

#: Small frames: the proof model trains on 32x32 crops, so there is no point rendering 640x360.
DEFAULT_SYNTH = SynthConfig(width=192, height=108, seconds=10.0)


@dataclass
class SyntheticShardSet:
    """What :func:`write_synthetic_shards` wrote."""

    shard_dir: Path
    footage_dir: Path
    shards: list[Path]
    samples: int
    #: ``{"field=value": clips}`` over the written samples.
    tag_counts: dict[str, int] = field(default_factory=dict)

    @property
    def pattern(self) -> str:
        """The glob to pass to ``anicurate train --shards``."""
        return str(self.shard_dir / "*.tar")


def shot_tags(taxonomy: Taxonomy, label: FootageLabel, shot: ShotLabel) -> dict[str, tuple[str, ...]]:
    """The validated PKS tags of one labelled shot (shot fields plus the clip's style and layout)."""
    return taxonomy.tags_from_labels(
        {
            "camera": shot.camera,
            "shot_size": shot.shot_size,
            "timing": shot.timing,
            "vfx": list(shot.vfx),
            "text_overlay": shot.text_overlay,
            "style": label.style,
            "layout": label.layout,
        }
    )


def _middle_jpg(path: Path) -> bytes:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    ok, buf = cv2.imencode(".jpg", frames[len(frames) // 2], [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError(f"could not encode a thumbnail of {path}")
    return buf.tobytes()


def write_synthetic_shards(
    out_dir: str | Path,
    videos: int = 8,
    seed: int = 0,
    synth: SynthConfig | None = None,
    clip_max_frames: int = 48,
    clip_min_frames: int = 16,
    crf: int = 18,
    target_bytes: int = 64 << 20,
    taxonomy: Taxonomy | None = None,
    progress: Callable[[str], None] | None = None,
) -> SyntheticShardSet:
    """Render ``videos`` synthetic videos into ``out_dir/footage`` and write ``out_dir/shards/shard-*.tar``.

    Shots are cut into clips of ``clip_min_frames``..``clip_max_frames`` frames (longer shots are windowed,
    shorter ones dropped); each clip becomes one sample with the members of :mod:`pipeline.shards`.
    """
    out_dir = Path(out_dir)
    tax = taxonomy or load_taxonomy()
    vocab = tax.vocab
    say = progress or (lambda msg: log.info("%s", msg))
    footage_dir = out_dir / "footage"
    shard_dir = out_dir / "shards"
    manifest = generate_footage(footage_dir, videos, seed, synth or DEFAULT_SYNTH, progress=say)
    pending: list[ShardSample] = []
    with tempfile.TemporaryDirectory(prefix="animatrix-clips-") as tmp:
        for video in manifest.videos:
            label = load_label(video.label_path)
            video_id = file_sha256(video.path)
            shots = [Shot(s.start, s.end) for s in label.shots]
            spans: list[ClipSpan] = plan_clips(shots, max_frames=clip_max_frames, min_frames=clip_min_frames)
            outs = [Path(tmp) / f"{video.name}-{k:04d}.mp4" for k in range(len(spans))]
            extract_clips(video.path, spans, outs, ClipEncoding(crf=crf))
            for span, clip_path in zip(spans, outs, strict=True):
                shot = label.shots[span.shot_index]
                tags = shot_tags(tax, label, shot)
                tag_ids = vocab.encode(tags)
                key = sample_key(video_id, span.start, span.end)
                meta = SampleMetadata(
                    key=key,
                    video_id=video_id,
                    source_path=str(video.path),
                    shot_id=f"{video_id[:16]}:{shot.start}-{shot.end}",
                    start_frame=span.start,
                    end_frame=span.end,
                    start_s=float(span.start / video.fps),
                    end_s=float((span.end + 1) / video.fps),
                    fps=fraction_to_json(video.fps),
                    width=video.width,
                    height=video.height,
                    frames=span.frames,
                    taxonomy_version=tax.version,
                    tags={f: list(vs) for f, vs in tags.items()},
                    confidences={f"{f}={v}": 1.0 for f, vs in tags.items() for v in vs},
                    sources={f"{f}={v}": "synthetic_label" for f, vs in tags.items() for v in vs},
                    description=shot.notes,
                )
                pending.append(
                    ShardSample(
                        metadata=meta,
                        mp4=clip_path.read_bytes(),
                        tag_ids=tag_ids,
                        field_ids=[vocab.field_index_of(i) for i in tag_ids],
                        jpg=_middle_jpg(clip_path),
                    )
                )
    tag_lists = [[f"{f}={v}" for f, vs in s.metadata.tags.items() for v in vs] for s in pending]
    for sample, weight in zip(pending, rebalance_weights(tag_lists), strict=True):
        sample.metadata.weight = round(float(weight), 6)
    with ShardWriter(shard_dir, prefix="shard", target_bytes=target_bytes) as writer:
        for sample in pending:
            writer.write(sample)
    counts: dict[str, int] = {}
    for tags in tag_lists:
        for t in tags:
            counts[t] = counts.get(t, 0) + 1
    shards = [shard_dir / name for name in writer.closed_shards]
    say(f"wrote {len(pending)} samples in {len(shards)} shard(s) to {shard_dir}")
    return SyntheticShardSet(shard_dir, footage_dir, shards, len(pending), dict(sorted(counts.items())))

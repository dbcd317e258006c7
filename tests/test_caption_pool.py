"""AniCaption's Ray actor pool gives the same annotations as a local AniCaption and ships each window once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from annotator.caption import AniCaption
from tests.videos import shot_from_thumbs

ray = pytest.importorskip("ray")


def panning_thumbs(n: int, seed: int) -> np.ndarray:
    """A textured background sliding 2 px per frame (a pan) with a flat-coloured disc held on it."""
    rng = np.random.default_rng(seed)
    world = (rng.random((72, 128 + 2 * n, 3)) * 255).astype(np.uint8)
    world = np.repeat(np.repeat(world[::4, ::4], 4, axis=0), 4, axis=1)[:72, : 128 + 2 * n]
    frames = []
    for i in range(n):
        f = np.ascontiguousarray(world[:, 2 * i : 2 * i + 128])
        f[30:42, 58:70] = (230, 80, 60)
        frames.append(f)
    return np.stack(frames)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def comparable(result):
    ann, emb = result
    return (
        ann.tags,
        ann.confidences,
        ann.sources,
        ann.missing,
        ann.directive.text() if ann.directive else None,
        None if emb is None else emb.tolist(),
    )


def test_pooled_captioner_matches_local_and_puts_each_window_once(local_ray) -> None:
    from pipeline.curate.caption_pool import CaptionPool

    pool = CaptionPool.start(None, size=2, cpus=0, gpus=0)
    try:
        local = AniCaption.from_config(None)
        client = pool.client("video-a")
        assert pool.client("video-a").actor is client.actor  # one actor per video, stable
        window_a = shot_from_thumbs(panning_thumbs(24, seed=1))
        window_b = shot_from_thumbs(panning_thumbs(30, seed=2))
        shots = [
            dataclasses.replace(window_a, start=0, end=11),
            dataclasses.replace(window_a, start=12, end=23),
            dataclasses.replace(window_b, start=0, end=29),
        ]
        for shot in shots:
            pooled = client.annotate_with_embedding(shot)
            assert comparable(pooled) == comparable(local.annotate_with_embedding(shot))
            assert pooled[0].tags  # the default experts tag a panning shot
        assert client.puts == 2  # two windows, three shots
    finally:
        pool.stop()


def test_a_bad_caption_config_fails_once_at_pool_start(local_ray, tmp_path) -> None:
    from pipeline.curate.caption_pool import CaptionPool

    with pytest.raises(Exception, match="no-such-config"):
        CaptionPool.start(str(tmp_path / "no-such-config.yaml"), size=1, cpus=0, gpus=0)
    with pytest.raises(ValueError, match="caption_actors"):
        CaptionPool.start(None, size=0, cpus=0, gpus=0)

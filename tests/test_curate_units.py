"""Small, fast checks of the curate job's parts: limits, keys, inputs, rebalancing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from pipeline.curate import CurateConfig
from pipeline.curate.inputs import resolve_inputs
from pipeline.curate.video_task import process_video
from pipeline.filters import DEFAULT_CONFIG
from pipeline.rebalance import axis_gini, gini, rebalance_weights
from pipeline.shards import check_key, sample_key
from tests.videos import write_video


def _video(tmp_path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(base[k : k + 240, k : k + 320]) for k in range(n)]
    return write_video(tmp_path / "v.mp4", frames)


def test_absurd_size_is_rejected_before_decoding(tmp_path: Path) -> None:
    cfg = CurateConfig.from_dict({"caption": {"enabled": False}, "limits": {"max_pixels": 1000}})
    r = process_video(str(_video(tmp_path)), cfg, tmp_path / "out")
    assert r.video is not None and r.video.status == "rejected"
    assert [x.rule for x in r.rejections] == ["absurd_size"] and r.rejections[0].measured == 320 * 240
    assert r.frames_decoded == 0


def test_a_video_no_shot_of_which_can_pass_the_filters_is_rejected_before_decoding(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG.read_text().replace("value: 240\n", "value: 300\n")
    assert text != DEFAULT_CONFIG.read_text()
    filters = tmp_path / "filters.yaml"
    filters.write_text(text)
    cfg = CurateConfig.from_dict({"caption": {"enabled": False}, "filters": str(filters)})
    r = process_video(str(_video(tmp_path)), cfg, tmp_path / "out")
    assert r.video is not None and r.video.status == "rejected" and r.frames_decoded == 0
    [x] = r.rejections
    assert (x.stage, x.subject, x.rule) == ("probe", "video", "min_resolution")
    assert (x.measured, x.threshold) == (240, ">= 300")
    assert "320x240" in x.reason and "before decoding" in x.reason

    scoring = tmp_path / "score_only.yaml"  # another name: a process caches a filter file by its path
    scoring.write_text(text.replace("mode: filter", "mode: score-only"))
    cfg = CurateConfig.from_dict({"caption": {"enabled": False}, "filters": str(scoring)})
    r = process_video(str(_video(tmp_path)), cfg, tmp_path / "out2")
    assert r.frames_decoded == 40 and not [x for x in r.rejections if x.stage == "probe"]
    # the curate config's mode overrides the filter file's
    cfg = CurateConfig.from_dict(
        {"caption": {"enabled": False}, "filters": str(filters), "mode": "score-only"}
    )
    r = process_video(str(_video(tmp_path)), cfg, tmp_path / "out3")
    assert r.frames_decoded == 40 and not [x for x in r.rejections if x.stage == "probe"]


def test_the_funnel_counts_the_declared_seconds_of_a_video_rejected_before_decoding(tmp_path: Path) -> None:
    from pipeline.curate import run_curate

    folder = tmp_path / "in"
    folder.mkdir()
    _video(folder, 48)  # 320x240: kept
    rng = np.random.default_rng(1)
    small = [rng.integers(0, 255, (200, 320, 3), dtype=np.uint8) for _ in range(72)]
    write_video(folder / "small.mp4", small)  # short side 200 < the default min_resolution 240
    out = tmp_path / "out"
    run_curate([folder], out, CurateConfig.from_dict({"caption": {"enabled": False}}), runner="local")
    videos = duckdb.sql(
        f"SELECT path, status, frames, duration_s, declared_duration_s FROM '{out}/manifest/videos.parquet'"
    ).fetchall()
    by_name = {Path(v[0]).name: v[1:] for v in videos}
    status, frames, decoded, declared = by_name["small.mp4"]
    assert (status, frames, decoded) == ("rejected", 0, 0.0)
    assert declared == pytest.approx(72 * 1001 / 24000, abs=0.05)
    ok = by_name["v.mp4"]
    assert ok[0] == "ok" and ok[2] == pytest.approx(48 * 1001 / 24000, abs=0.01)
    [probe] = duckdb.sql(
        f"SELECT items_in, kept, seconds_in, seconds_kept, reasons FROM '{out}/manifest/funnel.parquet' "
        "WHERE stage = 'probe'"
    ).fetchall()
    assert probe[:2] == (2, 1) and probe[4] == "min_resolution=1"
    assert probe[2] == pytest.approx(ok[2] + declared, abs=0.01)
    assert probe[3] == pytest.approx(ok[2], abs=0.01)


def test_max_frames_uses_the_first_part_and_says_so(tmp_path: Path) -> None:
    cfg = CurateConfig.from_dict({"caption": {"enabled": False}, "limits": {"max_frames": 25}})
    r = process_video(str(_video(tmp_path)), cfg, tmp_path / "out")
    assert r.frames_decoded == 25
    note = [x for x in r.rejections if x.rule == "max_frames"]
    assert note and note[0].stage == "decode" and "first part" in note[0].reason


def test_sample_keys_cannot_name_paths() -> None:
    key = sample_key("ab" * 32, 3, 40)
    assert key == "abababababababab_0000003_0000040" and check_key(key) == key
    for bad in ["../../etc/passwd", "abababababababab_1_2.mp4", "x/y", "abababababababab_0000003_0000040/.."]:
        with pytest.raises(ValueError):
            check_key(bad)
    with pytest.raises(ValueError, match="16 hex"):
        sample_key("../evil", 0, 1)


def test_inputs_dedupe_links_and_expand_lists(tmp_path: Path) -> None:
    v = _video(tmp_path)
    (tmp_path / "link.mp4").symlink_to(v)
    listing = tmp_path / "list.txt"
    listing.write_text("# a comment\nv.mp4\nlink.mp4\nnope.mp4\n")
    got = resolve_inputs([listing])
    assert [(Path(f.path).name, f.problem) for f in got] == [
        ("v.mp4", None),
        ("link.mp4", "duplicate_input"),
        ("nope.mp4", "missing"),
    ]


def test_rebalancing_weights_follow_the_formula() -> None:
    common = {"camera.movement": ["static"], "motion.timing": ["twos"]}
    rare = {"camera.movement": ["zoom_in"], "motion.timing": ["ones"], "motion.action": ["run"]}
    tags = [common, common, common, rare]
    w = rebalance_weights(tags)
    # n = relative frequency of the clip's rarest tag per axis; style and vfx untagged for all four clips (4/4)
    raw = np.array(
        [(1 / (1 * (3 / 4) * (3 / 4) * 1)) ** 0.7] * 3 + [(1 / (1 * (1 / 4) * (1 / 4) * 1)) ** 0.7]
    )
    assert np.allclose(w, raw / raw.mean()) and abs(w.mean() - 1) < 1e-9
    assert np.allclose(rebalance_weights([["camera.movement=static"], ["camera.movement=static"]]), [1, 1])
    before, after = axis_gini(tags), axis_gini(tags, w)
    assert after["camera"] < before["camera"] and before["style"] == 0.0
    assert gini([1, 1, 1, 1]) == 0.0 and gini([0, 0, 0, 10]) > 0.7
    with pytest.raises(ValueError, match="axis"):
        rebalance_weights([["nonsense"]])


def test_x264_params_are_checked_and_can_be_turned_off() -> None:
    from pipeline.curate import CurateConfigError
    from pipeline.curate.config import X264_FAST_PARAMS

    assert CurateConfig().clips.x264_params == X264_FAST_PARAMS
    assert CurateConfig.from_dict({"clips": {"x264_params": None}}).clips.x264_params is None
    assert (
        CurateConfig.from_dict({"clips": {"x264_params": "me=hex:subme=2"}}).clips.x264_params
        == "me=hex:subme=2"
    )
    with pytest.raises(CurateConfigError, match="clips.x264_params"):
        CurateConfig.from_dict({"clips": {"x264_params": "subme 2"}})


def test_detector_precision_reaches_the_transnet_of_the_task() -> None:
    from pipeline.curate import CurateConfigError
    from pipeline.curate.config import DETECTOR_PRECISIONS, DetectorSection
    from pipeline.curate.video_task import _detector
    from pipeline.shots.transnet import PRECISIONS

    assert DETECTOR_PRECISIONS == PRECISIONS
    assert CurateConfig().detector.precision == "auto"
    section = CurateConfig.from_dict({"detector": {"precision": "fp32"}}).detector
    assert _detector(section).model.precision == "fp32"
    assert _detector(DetectorSection(precision="bf16")).model.precision == "bf16"
    assert _detector(DetectorSection(precision="int8")).model.precision == "int8"
    assert _detector(DetectorSection(backend="pyscenedetect-content")).name == "pyscenedetect-content"
    with pytest.raises(CurateConfigError, match="detector.precision"):
        CurateConfig.from_dict({"detector": {"precision": "fp16"}})


def test_fewer_videos_than_cpus_share_the_cpus() -> None:
    from pipeline.curate import CurateConfigError
    from pipeline.curate.runner import task_cpus

    assert task_cpus(6, 2, 2, 1.0, 4) == 1.0  # more videos than CPUs: as configured
    assert task_cpus(2, 2, 2, 1.0, 4) == 1.0
    assert task_cpus(1, 2, 2, 1.0, 4) == 2.0  # a lone video takes both cores
    assert task_cpus(3, 16, 16, 1.0, 4) == 4.0  # capped
    assert task_cpus(3, 16, 16, 1.0, 8) == 5.0  # whole CPUs
    assert task_cpus(1, 32, 8, 1.0, 16) == 8.0  # one node's CPUs at most
    assert task_cpus(1, 8, 8, 0.5, 1) == 1.0
    assert task_cpus(1, 8, 8, 2.0, 1) == 2.0  # never below the configured request
    assert task_cpus(0, 8, 8, 1.0, 4) == 1.0
    with pytest.raises(CurateConfigError, match="ray.max_cpus_per_video"):
        CurateConfig.from_dict({"ray": {"max_cpus_per_video": 0}})


def test_a_task_sizes_opencvs_pool_to_its_cpus(tmp_path: Path) -> None:
    import cv2

    from pipeline.curate.runner import VideoTask, run_task

    cfg = CurateConfig.from_dict({"caption": {"enabled": False}, "limits": {"max_pixels": 1000}})
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(4)
        task = VideoTask(str(_video(tmp_path)), "v")
        summary = run_task(task, cfg, str(tmp_path / "out"))  # the local runner: the pool is left alone
        assert summary.rejected and cv2.getNumThreads() == 4
        run_task(task, cfg, str(tmp_path / "out"), cpus=1)  # a Ray task given one CPU
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)


def test_a_ray_task_claims_its_cpus_on_its_node_and_gives_them_back(tmp_path: Path, monkeypatch) -> None:
    import ray

    import pipeline.curate.runner as runner
    from pipeline.spare_cpus import SpareCpus

    class Context:
        def get_node_id(self) -> str:
            return "node-a"

    monkeypatch.setattr(ray, "get_runtime_context", Context)
    monkeypatch.setattr(runner, "default_folder", lambda node: tmp_path / "cpus" / node)
    assert runner._spare_cpus(None, 1) is None  # the local runner: nothing to borrow
    assert runner._spare_cpus({"node-b": 4}, 1) is None  # another node's CPUs are not this one's
    assert runner._spare_cpus({"node-a": 1}, 1) is None  # the task's own CPU is all there is
    spare = runner._spare_cpus({"node-a": 2}, 1)
    assert spare is not None and spare.folder == tmp_path / "cpus" / "node-a"
    other = SpareCpus(spare.folder, 2)
    assert (
        other.claim(1) == 1 and other.try_borrow(1) is None
    )  # the task holds its CPU, another holds the rest
    other.release()
    token = spare.try_borrow(1)
    assert token is not None
    SpareCpus.give_back(token)

    cfg = CurateConfig.from_dict({"caption": {"enabled": False}, "limits": {"max_pixels": 1000}})
    task = runner.VideoTask(str(_video(tmp_path)), "v")
    runner.run_task(task, cfg, str(tmp_path / "out"), cpus=1, spare_cpus={"node-a": 2})
    assert SpareCpus(spare.folder, 2).claim(1) == 1  # the finished task gave its CPU back
    spare.release()


def test_videos_are_scheduled_largest_first_and_ties_keep_their_order(tmp_path: Path) -> None:
    from pipeline.curate.runner import VideoTask, largest_first

    sizes = {"a": 10, "b": 300, "c": 10, "d": 50}
    tasks = []
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
        tasks.append(VideoTask(str(tmp_path / name), name))
    # a file that vanished since it was listed goes last, not an error
    tasks.append(VideoTask(str(tmp_path / "gone"), "gone"))
    assert [t.video_id for t in largest_first(tasks)] == ["b", "d", "a", "c", "gone"]


def test_the_detector_runs_where_the_config_says_and_a_gpu_it_cannot_see_stops_the_job_first(
    tmp_path: Path,
) -> None:
    import torch

    from pipeline.curate import CurateConfigError, run_curate
    from pipeline.curate.runner import EnvironmentFailure, check_detector_device
    from pipeline.curate.video_task import _detector

    assert CurateConfig().detector.device == "cpu"
    gpu = CurateConfig.from_dict({"detector": {"device": "cuda:1"}})
    detector = _detector(gpu.detector)
    assert detector.config.device == "cuda:1" and detector.model.device == "cuda:1"
    assert detector.model.precision in ("bf16", "fp32")  # auto on a GPU: never int8
    for bad, where in [
        ({"device": "gpu"}, "detector.device"),
        ({"device": "cuda", "precision": "int8"}, "int8"),
    ]:
        with pytest.raises(CurateConfigError, match=where):
            CurateConfig.from_dict({"detector": bad})

    # Ray tasks asking for no GPU would see none: refused before Ray starts or any video is read
    with pytest.raises(EnvironmentFailure, match="ray.gpus_per_video"):
        check_detector_device(gpu, 0.0)
    check_detector_device(gpu, 0.25)
    check_detector_device(CurateConfig(), 0.0)
    if not torch.cuda.is_available():
        folder = tmp_path / "in"
        folder.mkdir()
        _video(folder)
        with pytest.raises(EnvironmentFailure, match="no CUDA GPU"):
            run_curate([folder], tmp_path / "out", gpu, runner="local")
        with pytest.raises(EnvironmentFailure, match="ray.gpus_per_video"):
            run_curate([folder], tmp_path / "out2", gpu, runner="ray")


def test_each_video_records_the_detector_arithmetic_and_a_mixture_is_reported(tmp_path: Path) -> None:
    import dataclasses

    from pipeline.curate.reduce import mixed_detectors
    from pipeline.curate.video_task import _detector, detector_description

    cfg = CurateConfig.from_dict({"caption": {"enabled": False}, "detector": {"precision": "fp32"}})
    r = process_video(str(_video(tmp_path)), cfg, tmp_path / "out")
    assert r.video is not None and r.video.shot_detector == "transnet:fp32:cpu"
    auto = _detector(CurateConfig().detector)
    assert detector_description(auto) == f"transnet:{auto.model.precision}:cpu"
    content = CurateConfig.from_dict({"detector": {"backend": "pyscenedetect-content"}}).detector
    assert detector_description(_detector(content)) == "pyscenedetect-content"

    rejected_before_detection = dataclasses.replace(r.video, shot_detector=None, frames=0)
    same = [r.video, dataclasses.replace(r.video, video_id="b" * 64), rejected_before_detection]
    assert mixed_detectors(same) is None
    mixed = mixed_detectors([*same, dataclasses.replace(r.video, shot_detector="transnet:int8:cpu")])
    assert mixed is not None and "transnet:fp32:cpu on 2" in mixed and "transnet:int8:cpu on 1" in mixed
    assert "detector.precision: fp32" in mixed
    # a video staged by an AniCurate that did not record the arithmetic yet (resumed after an upgrade)
    older = mixed_detectors([*same, dataclasses.replace(r.video, shot_detector=None)])
    assert older is not None and "not recorded" in older


def test_polling_a_pending_copy_answer_never_lends_the_task_cpu_to_ray() -> None:
    """A video task polls the registry's answer between captions. A poll must not tell Ray the task is blocked
    (``ray.wait`` does, even with ``timeout=0``): Ray would start a queued video on the task's CPU, in an extra,
    cold worker. With one CPU, a task queued behind the poller may only start once the poller returns."""
    import time

    ray = pytest.importorskip("ray")
    from pipeline.curate.copies import RemoteAnswer

    ray.init(num_cpus=1, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:

        @ray.remote(num_cpus=0, max_concurrency=4)
        class Registry:
            def __init__(self) -> None:
                self.started = False

            def start(self) -> None:
                self.started = True

            def has_started(self) -> bool:
                return self.started

            def better_copies(self, seconds: float) -> list[str | None]:
                time.sleep(seconds)
                return ["a-better-copy"]

        @ray.remote(num_cpus=1)
        def poller(registry: Any) -> tuple[float, list[str | None], int]:
            registry.start.remote()  # not waited for: a ray.get here would itself lend the CPU
            answer = RemoteAnswer(registry.better_copies.remote(1.0), 1)
            polls = 0
            while (got := answer.poll()) is None:
                polls += 1
                time.sleep(0.005)
            return time.time(), got, polls

        @ray.remote(num_cpus=1)
        def queued() -> float:
            return time.time()

        registry = Registry.remote()
        first = poller.remote(registry)
        while not ray.get(registry.has_started.remote()):
            time.sleep(0.01)
        second = queued.remote()
        poller_end, got, polls = ray.get(first)
        assert got == ["a-better-copy"] and polls > 10
        assert ray.get(second) >= poller_end
    finally:
        ray.shutdown()


def test_a_dead_copy_registry_costs_encodes_never_clips(caplog: pytest.LogCaptureFixture) -> None:
    """The registry's actor dying mid-run: a lookup's answer is "no copy" (every clip is encoded), the warning is
    logged once per worker, and the next run starts a new actor."""
    import time

    ray = pytest.importorskip("ray")
    from pipeline.curate import copies as copies_module
    from pipeline.curate.copies import RemoteCopies

    copies_module._WARNED.clear()  # once per process: forget an earlier test's warning
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        copies = RemoteCopies.start(CurateConfig())
        ray.kill(copies.actor)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # ray.kill returns before the actor is gone: a lookup sent
            try:  # meanwhile would run (and fail on these stand-in fingerprints for another reason)
                ray.get(copies.actor.counts.remote())
            except ray.exceptions.RayActorError:
                break
            time.sleep(0.01)
        answers = [copies.ask([None, None]), copies.ask([None])]
        got: list = [None, None]
        deadline = time.monotonic() + 30
        while None in got and time.monotonic() < deadline:
            got = [g if g is not None else a.poll() for g, a in zip(got, answers, strict=True)]
            time.sleep(0.05)
        assert got == [[None, None], [None]]
        assert sum("copy registry unavailable" in r.message for r in caplog.records) == 1
        again = RemoteCopies.start(CurateConfig())
        assert again.actor != copies.actor and again.counts() == (0, 0)
    finally:
        ray.shutdown()

"""The curate job: raw footage in, WebDataset shards + Parquet manifest + funnel out.

Two phases, each a plain function over typed records so a local loop and Ray run the same code:

* *map* (:mod:`~pipeline.curate.video_task`), one task per input video: probe, stream the analysis frames in
  bounded windows, detect shots, score and filter them, caption the kept shots, fingerprint and cut the clips;
  everything lands in a per-video staging folder that is marked done last (:mod:`~pipeline.curate.staging`);
* *reduce* (:mod:`~pipeline.curate.reduce`): dedupe across all videos, rebalancing weights, shards in a stable
  order, manifest tables and the funnel.

:mod:`~pipeline.curate.runner` runs the map phase locally or on Ray; :mod:`~pipeline.curate.job` ties it all
together with resume and progress.
"""

from pipeline.curate.config import CurateConfig, CurateConfigError
from pipeline.curate.job import CurateSummary, run_curate

__all__ = ["CurateConfig", "CurateConfigError", "CurateSummary", "run_curate"]

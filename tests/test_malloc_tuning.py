import subprocess
import sys
import textwrap

import pytest

_FAULTS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import torch
    from pipeline.malloc_tuning import keep_large_blocks
    from pipeline.shots.transnet import TransNetV2Model
    if sys.argv[1] == "tuned":
        assert keep_large_blocks()
    torch.set_num_threads(1)
    model = TransNetV2Model(precision="fp32", batch_windows=2)
    tiny = np.random.default_rng(0).integers(0, 256, (150, 27, 48, 3), dtype=np.uint8)
    model.predict(tiny)  # first use: faulted in either way
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model.predict(tiny)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_tuned_worker_reuses_transnets_activations_instead_of_faulting_them_in() -> None:
    probe = "from pipeline.malloc_tuning import keep_large_blocks as k; raise SystemExit(0 if k() else 1)"
    if subprocess.run([sys.executable, "-c", probe]).returncode != 0:
        pytest.skip("this C library has no mallopt (not glibc)")
    default, tuned = _faults("default"), _faults("tuned")
    # a batch of two windows allocates ~0.5 GB of activations of 10-66 MB; glibc's default mmaps the largest
    # afresh each time (tens of thousands of page faults), the tuned heap keeps them
    assert default > 10_000
    assert tuned < default / 2  # measured: 250-275 thousand against 30-80 thousand

"""Shot boundary detection: detectors over shared analysis frames, post-processing, evaluation."""

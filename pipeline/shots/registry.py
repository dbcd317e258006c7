"""Shot detector registry: names the CLI offers as choices, resolved lazily so a backend's heavy imports
(torch, scenedetect) load only when it is used."""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.shots.base import ShotDetector

#: name -> "module:Class"
DETECTORS: dict[str, str] = {
    "transnet": "pipeline.shots.anime:AnimeShotDetector",
    "transnetv2-raw": "pipeline.shots.transnet:RawTransNetDetector",
    "pyscenedetect-adaptive": "pipeline.shots.scenedetect_backend:AdaptiveSceneDetector",
    "pyscenedetect-content": "pipeline.shots.scenedetect_backend:ContentSceneDetector",
}
DEFAULT_DETECTOR = "transnet"


def get_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> ShotDetector:
    """Instantiate a registered detector; an unknown name lists the valid ones."""
    if name not in DETECTORS:
        raise ValueError(f"unknown shot detector {name!r}; choose from {', '.join(DETECTORS)}")
    module_name, class_name = DETECTORS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)

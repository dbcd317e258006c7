"""File names as text for the manifest: Parquet strings must be valid UTF-8, file names need not be."""

from __future__ import annotations

import os
from pathlib import Path


def text_path(path: str | Path) -> str:
    """``path`` as printable UTF-8 text: bytes that are not UTF-8 (surrogate-escaped by Python) become ``\\xNN``,
    so the manifest keeps a faithful, readable name instead of failing on it."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")

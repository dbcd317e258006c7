"""Inputs of the curate job: files, folders (searched recursively for videos) and list files (one path per line).

Every input that cannot become a video task still becomes a row: an unreadable path, a broken symlink or a
symlink loop is reported with a reason, and the same file named twice (or through two links) is processed once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.footage import VIDEO_SUFFIXES

LIST_EXTENSIONS = {".txt", ".list", ".lst"}


@dataclass(frozen=True)
class InputFile:
    """One input as given (``path``) and the file it resolves to (``resolved``, None when it does not)."""

    path: str
    resolved: str | None
    problem: str | None = None  # machine-readable rule when the input cannot be read
    detail: str = ""


def _read_list(path: Path) -> list[str]:
    lines = path.read_text(errors="surrogateescape").splitlines()
    base = path.parent
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line)
            out.append(str(p if p.is_absolute() else base / p))
    return out


def _walk(folder: Path) -> Iterable[Path]:
    seen_dirs: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        try:
            st = os.stat(root)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:  # a symlink loop: do not descend again
            dirs[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                yield Path(root) / name


def _check_file(path: Path) -> InputFile:
    try:
        resolved = path.resolve(strict=True)
    except RuntimeError:
        return InputFile(str(path), None, "symlink_loop", "the path is a symlink loop")
    except FileNotFoundError:
        what = "a broken symlink" if path.is_symlink() else "no such file"
        return InputFile(str(path), None, "missing", what)
    except OSError as exc:
        return InputFile(str(path), None, "unreadable", exc.strerror or str(exc))
    if not resolved.is_file():
        return InputFile(str(path), None, "not_a_file", "not a regular file")
    if not os.access(resolved, os.R_OK):
        return InputFile(str(path), str(resolved), "unreadable", "permission denied")
    return InputFile(str(path), str(resolved))


def resolve_inputs(inputs: Sequence[str | Path]) -> list[InputFile]:
    """Expand ``inputs`` into files in a stable order; the same resolved file appears once (later mentions are
    returned with problem ``duplicate_input``)."""
    expanded: list[Path] = []

    def expand(item: str | Path, depth: int) -> None:
        p = Path(item)
        if p.is_dir():
            expanded.extend(_walk(p))
        elif p.is_file() and p.suffix.lower() in LIST_EXTENSIONS and depth < 4:
            for x in _read_list(p):
                expand(x, depth + 1)
        else:
            expanded.append(p)

    for item in inputs:
        expand(item, 0)
    out: list[InputFile] = []
    seen: dict[str, str] = {}
    for p in expanded:
        f = _check_file(p)
        if f.resolved is not None and f.problem is None:
            if f.resolved in seen:
                f = InputFile(f.path, f.resolved, "duplicate_input", f"same file as {seen[f.resolved]}")
            else:
                seen[f.resolved] = f.path
        out.append(f)
    return out

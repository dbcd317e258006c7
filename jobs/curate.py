"""``python -m jobs.curate INPUT... --out DIR``: the curate job as a module, for ``ray job submit``.

On a cluster the job's driver runs on the head node with ``RAY_ADDRESS`` set; ``--address auto`` is then implied.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from jobs.cli import app

    args = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("RAY_ADDRESS") and "--address" not in args:
        args += ["--address", "auto"]
    app(["curate", *args], prog_name="python -m jobs.curate")


if __name__ == "__main__":
    main()

"""Run a chapter so that its long experiments write their recordings: ``make record``.

A recording (:mod:`normlab.scaffolding.recording`) is a committed JSON file with the results
of a run too long for the default build (the ``NORMLAB_FULL`` runs, learning-rate sweeps),
with the commit, date, platform and settings that produced it. This command executes a notebook
with ``NORMLAB_RECORD=1`` (and ``NORMLAB_FULL=1`` unless ``--default``), fails if any cell
fails, and lists the recordings the run wrote or rewrote. Commit them with the chapter.

    python tools/record.py chapters/04_resnet.ipynb              # full runs, recorded
    python tools/record.py chapters/09_wgan.ipynb --default      # default runs + sweeps
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in folder.rglob("*.json")} if folder.is_dir() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--default", action="store_true",
                        help="record with the default (short) runs: NORMLAB_FULL unset")
    parser.add_argument("--timeout", type=int, default=3600, help="per cell, seconds")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        path = path.resolve()
        if not path.is_file() or path.suffix != ".ipynb":
            raise SystemExit(f"not a notebook: {path}")
        before = snapshot(path.parent / "recorded")
        env = {**os.environ, "NORMLAB_RECORD": "1", "NORMLAB_QUIET": "1",
               "NORMLAB_FULL": "0" if args.default else "1"}
        code = f"""
import nbformat
from nbclient import NotebookClient
nb = nbformat.read({str(path)!r}, as_version=4)
NotebookClient(nb, timeout={args.timeout}, kernel_name="python3",
               resources={{"metadata": {{"path": {str(path.parent)!r}}}}}).execute()
"""
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", code], env=env, check=False)
        took = time.perf_counter() - start
        after = snapshot(path.parent / "recorded")
        written = sorted(p for p, t in after.items() if before.get(p) != t)
        mode = "default" if args.default else "NORMLAB_FULL"
        print(f"{path.relative_to(ROOT)} ({mode}): {took:.0f} s, "
              f"{'ok' if run.returncode == 0 else 'FAILED'}")
        for p in written:
            print(f"  wrote {p.relative_to(ROOT)}")
        if not written:
            print("  wrote no recording (no cell calls save_recording when NORMLAB_RECORD is set)")
        status = status or run.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Build hook: record the git revision in wheels and sdists built from a checkout.

All metadata is in pyproject.toml. A checkout computes normlab.__version__ from git at
import time (normlab/_version.py); an installed wheel has no git history, so the build
writes the revision into normlab/_build_revision.txt, beside the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src" / "normlab"))
from _version import git_revision  # noqa: E402  (only this file: normlab needs torch)

REVISION_FILE = Path("normlab", "_build_revision.txt")


def _write_revision(package_root: Path) -> None:
    revision = git_revision(ROOT)
    if revision is not None:  # from an sdist, the sdist's file is already there
        (package_root / REVISION_FILE).write_text(revision + "\n")


class BuildPyWithRevision(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:  # an editable install asks git at import time
            _write_revision(Path(self.build_lib))


class SdistWithRevision(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _write_revision(Path(base_dir, "src"))


setup(cmdclass={"build_py": BuildPyWithRevision, "sdist": SdistWithRevision})

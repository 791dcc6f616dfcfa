"""normlab's version: the release, and the git revision the code comes from.

``RELEASE`` is the version of the last release (``pyproject.toml`` reads it, without
importing normlab). :func:`version` adds the commit as a PEP 440 local label, so that the
version line at the top of every chapter tells which build a reader runs:

- in a git checkout (an editable install, ``PYTHONPATH=src``), from ``git`` itself each time
  normlab is imported, so it cannot go stale: ``0.2.0+g86e2858``, with ``.dirty`` when
  tracked files differ from that commit;
- in a wheel built from a checkout (``pip install "normlab @ git+https://..."`` builds one),
  from ``_build_revision.txt``, which the build writes (``setup.py``);
- otherwise (a source tree without git history) the release alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["RELEASE", "git_revision", "version"]

RELEASE = "0.2.0"

_PACKAGE = Path(__file__).resolve().parent
_REVISION_FILE = _PACKAGE / "_build_revision.txt"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
    )


def git_revision(root: Path | None = None) -> str | None:
    """``g<short hash>`` (with ``.dirty`` for uncommitted changes) of the checkout at ``root``.

    ``root`` defaults to the repository this file sits in (``src/normlab/`` two levels up),
    and only that repository counts: a normlab installed in the site-packages of someone
    else's repository does not take that repository's commit. None without git or outside a
    normlab checkout.
    """
    root = _PACKAGE.parents[1] if root is None else root
    if not (root / "pyproject.toml").is_file() or not (root / ".git").exists():
        return None
    try:
        head = _git(root, "rev-parse", "--short=7", "HEAD")
        if head.returncode != 0:
            return None
        dirty = _git(root, "diff-index", "--quiet", "HEAD", "--").returncode == 1
    except (OSError, subprocess.SubprocessError):
        return None
    return f"g{head.stdout.strip()}" + (".dirty" if dirty else "")


def version() -> str:
    """The release, with the revision as a local label when it is known."""
    revision = git_revision()
    if revision is None and _REVISION_FILE.is_file():
        revision = _REVISION_FILE.read_text().strip() or None
    return f"{RELEASE}+{revision}" if revision else RELEASE

"""Checks on the built book that neither nbval nor Sphinx can make.

Run after `jupyter-book build` (make book does): every chapter listed in _toc.yml must have
a page, every chapter page must show at least one figure (a kernel without the inline
backend renders none, silently), and no cell output may show a traceback.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def chapter_files(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        if str(node.get("file", "")).startswith("chapters/"):
            found.append(node["file"])
        for value in node.values():
            found += chapter_files(value)
    elif isinstance(node, list):
        for value in node:
            found += chapter_files(value)
    return found


def main(html_dir: Path) -> int:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    problems = []
    for chapter in chapter_files(toc):
        page = html_dir / f"{chapter}.html"
        if not page.exists():
            problems.append(f"{chapter}: no page {page}")
            continue
        html = page.read_text()
        figures = len(re.findall(r'<img[^>]+src="(?:\.\./)*_images/', html))
        figures += len(re.findall(r'<img[^>]+src="data:image/', html))
        if figures == 0:
            problems.append(f"{chapter}: no figure on the page (is the inline backend active?)")
        if "Traceback (most recent call last)" in html:
            problems.append(f"{chapter}: a cell output shows a traceback")
        print(f"{chapter:40s} {figures:3d} figures")
    for problem in problems:
        print("ERROR:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"))

"""The cached intersphinx inventories (_intersphinx/, see its README) and _config.yml agree.

Each inventory must parse, its header must name the version in its file name, and the book
must link to that version's documentation: a refreshed inventory with a stale base URL (or
the reverse) would send every link to pages of another version.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = {"python": "Python", "numpy": "NumPy", "torch": "PyTorch"}


def _mapping() -> dict[str, list[str]]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["sphinx"]["config"]["intersphinx_mapping"]


def test_the_book_maps_python_numpy_and_torch_to_local_files() -> None:
    mapping = _mapping()
    assert set(mapping) == set(PROJECTS)
    for url, local in mapping.values():
        assert url.startswith("https://") and url.endswith("/")
        assert (ROOT / local).is_file(), local


@pytest.mark.parametrize("key", sorted(PROJECTS))
def test_inventory_header_file_name_and_url_name_one_version(key: str) -> None:
    sphinx_inventory = pytest.importorskip("sphinx.util.inventory")
    url, local = _mapping()[key]
    path = ROOT / local
    lines = path.read_bytes().split(b"\n", 4)
    assert lines[0] == b"# Sphinx inventory version 2"
    project = lines[1].decode().removeprefix("# Project: ")
    version = lines[2].decode().removeprefix("# Version: ")
    assert project == PROJECTS[key]
    assert path.name == f"{key}-{version}.inv"
    assert f"/{version}/" in url
    with path.open("rb") as f:
        inventory = sphinx_inventory.InventoryFile.load(f, url, posixpath.join)
    assert len(inventory["py:class"]) > 50
    for entries in inventory.values():
        for _, _, uri, _ in list(entries.values())[:20]:
            assert re.match(re.escape(url) + r"[\w./-]+\.html", uri), uri

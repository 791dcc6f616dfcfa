"""Recorded runs: results of long experiments, saved by a command and shown by the book.

Some numbers a chapter discusses come from runs too long for the minute a chapter gets on a
laptop: the ``NORMLAB_FULL`` runs, or a learning-rate sweep that picks each method's rate.
The book never quotes such a number from memory. The run writes a *recording*, a JSON file
committed next to the chapter, and the chapter loads it in a cell that says it is a
recording, of which commit, when, on what machine and with which settings::

    # in the experiment's cell, which runs under `make record` (NORMLAB_RECORD=1)
    if recording_requested():
        save_recording("recorded/04_resnet_full.json", results, settings=settings)
    # in the default build
    rec = load_recording("recorded/04_resnet_full.json")
    print(rec.describe())

``make record NOTEBOOK=chapters/04_resnet.ipynb`` executes a chapter with
``NORMLAB_FULL=1 NORMLAB_RECORD=1`` (``tools/record.py``). Paths are relative to the
notebook's folder, where Jupyter runs it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from normlab.scaffolding.settings import env_flag, full_runs, seed_offset

__all__ = [
    "RECORD_ENV_VAR",
    "Recording",
    "load_recording",
    "platform_name",
    "recording_requested",
    "save_recording",
]

RECORD_ENV_VAR = "NORMLAB_RECORD"
_FORMAT = 1
_FIELDS = ("format", "name", "results", "settings", "commit", "date", "platform",
           "normlab", "torch", "seed_offset", "full", "command")


def recording_requested() -> bool:
    """``NORMLAB_RECORD`` is set: the experiments that write recordings should write them."""
    return env_flag(RECORD_ENV_VAR)


def platform_name() -> str:
    """The device results were computed on: the CUDA device, or the CPU model and its ISA.

    The same string as the claims page uses (``tools/claims.py``), so that a recording
    and a claim row from one machine name it alike.
    """
    device = os.environ.get("NORMLAB_DEVICE", "").strip()
    if device.startswith("cuda") or (not device and torch.cuda.is_available()):
        return f"CUDA {torch.cuda.get_device_name()} (torch {torch.__version__})"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    isa = torch.backends.cpu.get_cpu_capability()
    return f"{model}, {isa} (torch {torch.__version__})"


def _commit() -> str:
    """The repository's commit (with ``+dirty`` when the work tree has changes), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty.strip() else "")


def _check_json(value: Any, where: str) -> None:
    """Fail, naming the entry, on anything JSON would not store faithfully."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {value}")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} must have str keys, got {type(key).__name__} {key!r}")
            _check_json(item, f"{where}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where} must hold only dicts, lists, str, int, float, bool or None "
        f"(convert tensors with .tolist()), got {type(value).__name__}"
    )


@dataclass(frozen=True)
class Recording:
    """A recorded run, as saved by :func:`save_recording`.

    Attributes:
        name: what was run, one line.
        results: the recorded numbers (JSON: dicts, lists, numbers, strings).
        settings: the settings the run used (steps, seeds, learning rates...).
        commit: the repository commit that ran it (``+dirty``: with uncommitted changes).
        date: the UTC date and time it finished.
        platform: the CPU model and ISA, or the CUDA device.
        normlab: the library version.
        torch: the PyTorch version.
        seed_offset: ``NORMLAB_SEED`` during the run.
        full: whether ``NORMLAB_FULL`` was set.
        command: the command that writes it.
    """

    name: str
    results: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    commit: str = "unknown"
    date: str = ""
    platform: str = ""
    normlab: str = ""
    torch: str = ""
    seed_offset: int = 0
    full: bool = False
    command: str = ""

    def describe(self) -> str:
        """Two lines for a chapter: this is a recording, of what, when, where and how made."""
        mode = "NORMLAB_FULL" if self.full else "default"
        return (f"Recorded run: {self.name} ({mode} settings, seed offset {self.seed_offset}).\n"
                f"Written {self.date[:10]} by `{self.command}` at commit {self.commit}, "
                f"on {self.platform}.")


def save_recording(path: str | os.PathLike[str], results: Mapping[str, Any], *, name: str,
                   settings: Mapping[str, Any] | None = None,
                   command: str = "make record") -> Recording:
    """Write ``results`` with the run's provenance to the JSON file ``path`` (atomically).

    Args:
        path: the file, relative to the working directory (a notebook's folder).
        results: the numbers to keep; dicts, lists, str, finite floats, ints, bools, None.
        name: one line saying what was run.
        settings: the settings that produced them (steps, seeds, learning rates...).
        command: the repository command that writes this file.

    Raises:
        TypeError: ``results`` or ``settings`` hold something JSON cannot store (a tensor),
            or ``name`` is not a str.
        ValueError: a non-finite number, or an empty ``name``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not name.strip() or "\n" in name:
        raise ValueError(f"name must be one non-empty line, got {name!r}")
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    settings = {} if settings is None else settings
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a dict or None, got {type(settings).__name__}")
    _check_json(results, "results")
    _check_json(settings, "settings")
    from normlab import __version__

    rec = Recording(
        name=name, results=json.loads(json.dumps(results)),
        settings=json.loads(json.dumps(settings)), commit=_commit(),
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        platform=platform_name(), normlab=__version__, torch=torch.__version__,
        seed_offset=seed_offset(), full=full_runs(), command=command,
    )
    payload = {"format": _FORMAT, **{k: getattr(rec, k) for k in _FIELDS if k != "format"}}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, target)
    return rec


def load_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a file written by :func:`save_recording`.

    Raises:
        FileNotFoundError: no such file (the message says which command writes it).
        ValueError: the file is not a recording (not JSON, another format, missing fields).
    """
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(
            f"no recording at {target} (relative to {Path.cwd()}): it is written by "
            f"`make record` (tools/record.py) running the chapter with NORMLAB_RECORD=1"
        )
    try:
        payload = json.loads(target.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"the recording {target} is not valid JSON: {err}") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{target} is not a normlab recording (format {_FORMAT})")
    missing = [k for k in _FIELDS if k not in payload]
    if missing:
        raise ValueError(f"the recording {target} lacks the fields {missing}")
    if not isinstance(payload["results"], dict) or not isinstance(payload["settings"], dict):
        raise ValueError(f"the recording {target} must hold dicts under results and settings")
    return Recording(**{k: payload[k] for k in _FIELDS if k != "format"})

"""nbval support: report each notebook's execution time and enforce its budget, fairly.

Each notebook declares ``metadata.normlab.budget_seconds``: about a minute on the two-core
machine the book was written on. A fixed budget in seconds would measure the machine as much
as the chapter (a reader's slower laptop, a busy CI machine), so the gate runs a fixed
reference workload (tools/reference_workload.py: the chapters' kind of work, tiny networks on
one CPU thread) right before and right after each notebook, and expresses the notebook's time
in units of that workload: a machine twice as slow, or twice as busy, gets twice the seconds.
The run fails only when a notebook takes more than twice its budget in those units; the
table printed at the end shows the seconds, the machine's speed and the normalized time.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import normlab.scaffolding.settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from reference_workload import machine_units  # noqa: E402

_durations: dict[Path, float] = defaultdict(float)
_units: dict[Path, list[float]] = defaultdict(list)
LIMIT_FACTOR = normlab.scaffolding.settings.env_int("NORMLAB_BUDGET_FACTOR", 2, minimum=1)


def _budget(path: Path) -> int:
    meta = json.loads(path.read_text()).get("metadata", {})
    return int(meta.get("normlab", {}).get("budget_seconds", 60))


def _notebook(item) -> Path | None:
    # resolved: pytest gives items absolute paths and reports paths relative to the rootdir,
    # and both must name the same notebook
    path = Path(str(item.fspath)).resolve()
    return path if path.suffix == ".ipynb" else None


def pytest_runtest_setup(item):
    path = _notebook(item)
    if path is not None and not _units[path]:
        _units[path].append(machine_units(repeats=2))


def pytest_runtest_teardown(item, nextitem):
    path = _notebook(item)
    if path is not None and (nextitem is None or _notebook(nextitem) != path):
        _units[path].append(machine_units(repeats=2))


def pytest_runtest_logreport(report):
    path = Path(report.fspath).resolve()
    if path.suffix == ".ipynb":
        _durations[path] += report.duration


def _speed(path: Path) -> float:
    """The machine's slowness around this notebook, in reference units (at least 1)."""
    units = _units.get(path) or [1.0]
    return max(1.0, sum(units) / len(units))


def _normalized(path: Path) -> float:
    return _durations[path] / _speed(path)


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    tr = terminalreporter
    tr.section("notebook execution times")
    tr.write_line(
        f"{'notebook':40s} {'seconds':>8s} {'machine':>8s} {'normalized':>10s}   budget"
    )
    total = 0.0
    for path, seconds in sorted(_durations.items()):
        budget, normalized = _budget(path), _normalized(path)
        total += seconds
        if normalized <= budget:
            flag = ""
        elif normalized <= LIMIT_FACTOR * budget:
            flag = "  over budget"
        else:
            flag = "  FAIL"
        # solutions share their chapter's file name: name the folder too
        name = path.name if path.parent.name == "chapters" else f"{path.parent.name}/{path.name}"
        tr.write_line(
            f"{name:40s} {seconds:8.1f} {_speed(path):7.2f}x {normalized:9.1f} s   "
            f"{budget} s{flag}"
        )
    tr.write_line(
        f"total {total:.0f} s; 'machine' is the reference workload's time here over its time "
        f"on the book's machine (at least 1); a notebook fails above {LIMIT_FACTOR}x its "
        "budget in normalized seconds"
    )


def pytest_sessionfinish(session, exitstatus):
    too_slow = [p for p in _durations if _normalized(p) > LIMIT_FACTOR * _budget(p)]
    if too_slow and exitstatus == 0:
        session.exitstatus = 1

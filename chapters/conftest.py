"""nbval support: report each notebook's execution time and enforce its budget.

Each notebook declares ``metadata.normlab.budget_seconds`` (about a minute on two CPU cores).
Timings vary between machines, so the run fails only when a notebook takes more than twice
its budget; the table printed at the end shows the measured times.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

_durations: dict[Path, float] = defaultdict(float)
LIMIT_FACTOR = float(os.environ.get("NORMLAB_BUDGET_FACTOR", "2"))


def _budget(path: Path) -> int:
    meta = json.loads(path.read_text()).get("metadata", {})
    return int(meta.get("normlab", {}).get("budget_seconds", 60))


def pytest_runtest_logreport(report):
    path = Path(report.fspath)
    if path.suffix == ".ipynb":
        _durations[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    tr = terminalreporter
    tr.section("notebook execution times")
    for path, seconds in sorted(_durations.items()):
        budget = _budget(path)
        if seconds <= budget:
            flag = ""
        elif seconds <= LIMIT_FACTOR * budget:
            flag = "  over budget"
        else:
            flag = "  FAIL"
        tr.write_line(f"{path.name:40s} {seconds:7.1f} s   (budget {budget} s){flag}")


def pytest_sessionfinish(session, exitstatus):
    too_slow = [p for p, s in _durations.items() if s > LIMIT_FACTOR * _budget(p)]
    if too_slow and exitstatus == 0:
        session.exitstatus = 1

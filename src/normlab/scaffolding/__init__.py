"""The scaffolding: what the chapters, tests and benchmarks run on, not what the book teaches.

Nothing here is an algorithm of the book; the subject modules (:mod:`normlab.linalg`,
:mod:`normlab.normalization`, :mod:`normlab.gan`, ...) may import from here, never the other
way round.

- :mod:`~normlab.scaffolding.device`: choosing CPU or GPU (``NORMLAB_DEVICE``), seeding;
- :mod:`~normlab.scaffolding.settings`: the environment knobs, read and checked in one place;
- :mod:`~normlab.scaffolding.progress`: progress bars that stay quiet in the book build;
- :mod:`~normlab.scaffolding.chapter`: the set-up every chapter runs in its first cell;
- :mod:`~normlab.scaffolding.recording`: results of long runs, saved with their provenance;
- :mod:`~normlab.scaffolding.timing`: timers that synchronize the GPU, cost comparisons;
- :mod:`~normlab.scaffolding.launch`: running a function on several local processes;
- :mod:`~normlab.scaffolding.book`: showing the library's source, interactive figures;
- :mod:`~normlab.scaffolding.display`: the per-seed tables and image tiles the chapters print;
- :mod:`~normlab.scaffolding.diagrams`: the chapters' architecture diagrams (matplotlib).
"""

from normlab.scaffolding.book import interactive_figure, show_source
from normlab.scaffolding.chapter import ChapterSetup, setup_chapter
from normlab.scaffolding.device import available_devices, get_device, seed_everything
from normlab.scaffolding.display import image_grid, summarize_seeds
from normlab.scaffolding.launch import CollectiveLog, count_collectives, launch
from normlab.scaffolding.progress import progress_bar
from normlab.scaffolding.recording import load_recording, recording_requested, save_recording
from normlab.scaffolding.timing import Timing, time_call, time_forward_backward

__all__ = [
    "setup_chapter",
    "ChapterSetup",
    "recording_requested",
    "save_recording",
    "load_recording",
    "get_device",
    "available_devices",
    "seed_everything",
    "progress_bar",
    "show_source",
    "interactive_figure",
    "summarize_seeds",
    "image_grid",
    "time_call",
    "time_forward_backward",
    "Timing",
    "launch",
    "count_collectives",
    "CollectiveLog",
]

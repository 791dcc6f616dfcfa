"""The environment variables that steer the chapters, each parsed once and strictly.

========================  =======================================================
``NORMLAB_DEVICE``        ``cpu``, ``cuda`` or ``cuda:N`` (see :func:`.device.get_device`)
``NORMLAB_QUIET``         a flag: no progress bars (``make book`` and ``make test`` set it);
                          tqdm's own ``TQDM_DISABLE`` is honoured too
``NORMLAB_FULL``          a flag: the longer, better runs of the chapters that offer them
``NORMLAB_SEED``          a non-negative integer added to every seed a chapter draws
``NORMLAB_RECORD``        a flag: long experiments write their recordings
                          (``make record``, see :mod:`normlab.scaffolding.recording`)
========================  =======================================================

A flag accepts ``1/0``, ``true/false``, ``yes/no`` and ``on/off`` (any case, surrounding
spaces ignored); unset or empty means off. Anything else is an error that names the
variable: a typo such as ``NORMLAB_FULL=ture`` must not silently give the short run.
"""

from __future__ import annotations

import os

__all__ = [
    "FULL_ENV_VAR",
    "QUIET_ENV_VAR",
    "SEED_ENV_VAR",
    "env_flag",
    "env_int",
    "full_runs",
    "quiet",
    "seed_offset",
]

FULL_ENV_VAR = "NORMLAB_FULL"
QUIET_ENV_VAR = "NORMLAB_QUIET"
SEED_ENV_VAR = "NORMLAB_SEED"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def env_flag(name: str, default: bool = False) -> bool:
    """Read the boolean environment variable ``name``.

    Returns ``default`` when the variable is unset, ``False`` when it is empty.

    Raises:
        ValueError: the value is not one of 1/0/true/false/yes/no/on/off.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"the environment variable {name} must be one of 1/0, true/false, yes/no, on/off "
        f"(or unset), got {raw!r}"
    )


def env_int(name: str, default: int = 0, *, minimum: int | None = None) -> int:
    """Read the integer environment variable ``name`` (``default`` when unset or empty).

    Raises:
        ValueError: the value is not a decimal integer, or is below ``minimum``.
    """
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    try:
        value = int(text, 10)
    except ValueError:
        raise ValueError(
            f"the environment variable {name} must be an integer, got {raw!r}"
        ) from None
    if minimum is not None and value < minimum:
        raise ValueError(
            f"the environment variable {name} must be an integer >= {minimum}, got {raw!r}"
        )
    return value


def full_runs() -> bool:
    """True when ``NORMLAB_FULL`` asks for the chapters' longer runs."""
    return env_flag(FULL_ENV_VAR)


def quiet() -> bool:
    """True when ``NORMLAB_QUIET`` (or tqdm's own ``TQDM_DISABLE``) asks for no progress bars."""
    return env_flag(QUIET_ENV_VAR) or env_flag("TQDM_DISABLE")


def seed_offset() -> int:
    """The offset ``NORMLAB_SEED`` adds to every seed a chapter draws (default 0).

    Seeds must stay below 2**32 (NumPy's limit), so the offset is capped well below it.
    """
    offset = env_int(SEED_ENV_VAR, 0, minimum=0)
    if offset >= 2**31:
        raise ValueError(
            f"the environment variable {SEED_ENV_VAR} must be below 2**31, got {offset}"
        )
    return offset

"""Runnable examples: ``python -m normlab.examples.<name>`` (see each module's docstring)."""

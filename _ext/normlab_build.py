"""Sphinx extension of the book build (listed under sphinx.local_extensions in _config.yml).

It sets ``NORMLAB_BOOK_BUILD=1`` in the environment of the build. The kernels that execute
the chapters are child processes and inherit it, so
``normlab.scaffolding.interactive_figure`` knows it is drawing for the static book: it
precomputes the figure for a grid of the controls' values and shows a slider that needs no
kernel (see ``normlab.scaffolding.book``). A reader running the notebook in Jupyter does not
have the variable and gets the live widget.
"""

from __future__ import annotations

import os

# the name of normlab.scaffolding.book.BOOK_BUILD_VARIABLE (not imported: the extension must
# load even where the library is not installed, e.g. for a build that does not execute)
VARIABLE = "NORMLAB_BOOK_BUILD"


def setup(app):
    os.environ[VARIABLE] = "1"
    # the link to the other edition (English / Chinese) on every page
    app.setup_extension("normlab_i18n")
    return {"parallel_read_safe": True, "parallel_write_safe": True}

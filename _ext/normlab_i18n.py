"""The link between the English and the Chinese edition, on every page of both.

Loaded by ``normlab_build`` (the book's local extension). Each page gets, above its text,
a link to the same page in the other edition: "中文版" in the English book, "English" in
the Chinese one. Where the other edition lives, relative to this edition's root, is the
config value ``normlab_other_edition`` or else the environment variable
``NORMLAB_OTHER_EDITION``: the Makefile sets ``../html-zh/`` and ``../html/`` when it
builds both editions side by side (make test, make books), and a site that publishes the
Chinese edition under ``zh/`` of the English one sets ``zh/`` and ``../``. Without either,
no link is added (a book built alone does not link to an edition that is not there).
"""

from __future__ import annotations

import os
import posixpath
from html import escape

LABELS = {"en": ("中文版", "zh-CN"), "zh": ("English", "en")}
VARIABLE = "NORMLAB_OTHER_EDITION"


def _edition(language: str | None) -> str:
    return "zh" if (language or "en").lower().startswith("zh") else "en"


def other_edition_link(pagename: str, language: str | None, prefix: str | None) -> str:
    """The HTML of the link from ``pagename`` to the same page in the other edition.

    Empty when neither ``prefix`` nor the environment names the other edition.
    """
    edition = _edition(language)
    prefix = prefix or os.environ.get(VARIABLE, "")
    if not prefix:
        return ""
    if not prefix.endswith("/"):
        prefix += "/"
    if "://" in prefix:  # an absolute URL
        href = prefix + pagename + ".html"
    else:
        href = posixpath.join("../" * pagename.count("/") + prefix, pagename + ".html")
    label, lang = LABELS[edition]
    return (f'<p class="normlab-edition" style="text-align:right;margin:0 0 .5em">'
            f'<a href="{escape(href)}" hreflang="{lang}" lang="{lang}">{label}</a></p>\n')


def add_link(app, pagename, templatename, context, doctree):
    if doctree is None or "body" not in context:  # search, genindex: no page text
        return
    context["body"] = other_edition_link(
        pagename, app.config.language, app.config.normlab_other_edition) + context["body"]


def setup(app):
    app.add_config_value("normlab_other_edition", "", "html")
    app.connect("html-page-context", add_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

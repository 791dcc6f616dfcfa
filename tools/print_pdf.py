"""Print the single-page HTML book to one PDF with headless Chromium (run by `make pdf`).

    python tools/print_pdf.py CHROMIUM _build/singlehtml/index.html _build/pdf/normlab.pdf

The maths is typeset by the book's own MathJax (`_vendor/mathjax`, which the build copies to
`_static/mathjax` next to the page, as for the HTML book): no CDN and no system copy, so the
PDF is made offline with the same MathJax as the web pages. The script refuses a page that
loads MathJax, or any other script, from elsewhere. Chromium is given virtual time to run
MathJax before it prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

#: Where Jupyter Book's page loads the vendored MathJax from (mathjax_path in _config.yml).
MATHJAX = "_static/mathjax/tex-chtml.js"
REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)", re.IGNORECASE)


def check_offline_mathjax(page: Path, html: str) -> None:
    """Raise SystemExit unless ``page`` loads the vendored MathJax and nothing remote."""
    remote = REMOTE_SCRIPT.findall(html)
    if remote:
        raise SystemExit(f"{page} loads scripts from the network: {', '.join(remote)}")
    sources = re.findall(r'<script\b[^>]*\bsrc="([^"?]*mathjax[^"?]*)', html, re.IGNORECASE)
    if sources != [MATHJAX]:
        raise SystemExit(f"{page} must load MathJax from {MATHJAX} once, loads {sources}")
    if not (page.parent / MATHJAX).is_file():
        raise SystemExit(f"{page.parent / MATHJAX} is missing (the build copies _vendor/)")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    chromium, page, pdf = argv[0], Path(argv[1]), Path(argv[2])
    # Jupyter Book's index.html only redirects to the root page, which holds the book
    redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', page.read_text())
    if redirect:
        page = page.with_name(redirect.group(1))
    check_offline_mathjax(page, page.read_text())
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.unlink(missing_ok=True)
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # Chromium refuses to run as root otherwise (containers, CI)
        "--disable-gpu",
        "--allow-file-access-from-files",  # MathJax loads its fonts and TeX extensions
        "--no-pdf-header-footer",
        "--virtual-time-budget=300000",  # ms of page time for MathJax before printing
        f"--print-to-pdf={pdf.resolve()}",
        page.resolve().as_uri(),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not pdf.is_file() or pdf.stat().st_size == 0:
        print(f"error: Chromium wrote no PDF at {pdf}", file=sys.stderr)
        return 1
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    size = pdf.stat().st_size / 1e6
    print(f"{pdf}: {pages} pages, {size:.1f} MB, in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

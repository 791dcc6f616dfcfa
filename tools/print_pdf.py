"""Print the single-page HTML book to one PDF with headless Chromium (run by `make pdf`).

    python tools/print_pdf.py CHROMIUM _build/singlehtml/index.html _build/pdf/normlab.pdf [MATHJAX]

The page loads MathJax from its CDN; MATHJAX, the path of a local MathJax 2 ``MathJax.js``
(Debian: ``apt-get install libjs-mathjax``) or MathJax 3 ``tex-*.js``, renders the maths
without a network. Chromium is given virtual time to run MathJax before it prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path


def with_local_mathjax(html: str, mathjax: Path) -> str:
    src = mathjax.resolve().as_uri()
    if mathjax.name == "MathJax.js":  # MathJax 2 needs its configuration in the URL
        src += "?config=TeX-AMS-MML_HTMLorMML"
    html, count = re.subn(r'src="[^"]*mathjax[^"]*\.js[^"]*"', f'src="{src}"', html, count=1)
    if mathjax.name == "MathJax.js":  # the page's MathJax 3 configuration would confuse 2
        html = re.sub(r"<script>\s*window\.MathJax\s*=.*?</script>", "", html, flags=re.S)
    if count == 0:
        raise SystemExit("no MathJax <script> found in the page")
    return html


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    chromium, page, pdf = argv[0], Path(argv[1]), Path(argv[2])
    mathjax = Path(argv[3]) if len(argv) == 4 and argv[3] else None
    # Jupyter Book's index.html only redirects to the root page, which holds the book
    redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', page.read_text())
    if redirect:
        page = page.with_name(redirect.group(1))
    if mathjax is not None:
        printed = page.with_name("print.html")
        printed.write_text(with_local_mathjax(page.read_text(), mathjax))
        page = printed
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.unlink(missing_ok=True)
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # Chromium refuses to run as root otherwise (containers, CI)
        "--disable-gpu",
        "--allow-file-access-from-files",
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

"""Checks on the built book that neither nbval nor Sphinx can make.

Run after `jupyter-book build` (make book does): every chapter listed in _toc.yml must have
a page, every chapter page must show at least one figure (a kernel without the inline
backend renders none, silently), and no cell output may show a traceback.

The book must read offline: no page may load a script, style sheet, image or frame from
the network, and every page with maths loads the book's own MathJax. Where Chromium is
installed, every chapter is opened with networking disabled and must show rendered maths
(MathJax's `mjx-container` elements, no raw TeX, no `mjx-merror`). Each precomputed widget
(normlab.interactive_figure in the build) must hold the frames it announces. Every link
of the corrections page (appendix/sources) must lead to an anchor that exists.

Exercises and solutions: every chapter page has its exercises as anchors ``ex-NN-k``, each
with a link to ``sol-NN-k`` on its solutions page (``chapters/solutions/<name>.html``, listed
in _toc.yml under the chapter), which must have exactly those solutions, each linking back
to its exercise; every such link must lead to a page and an anchor that exist. Solutions
pages need no figure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = "_static/mathjax/tex-chtml.js"
SOURCES_PAGE = "appendix/sources.html"
# loaded at page load from a URL: <script src>, <link rel=stylesheet href>, <img src>, ...
REMOTE = re.compile(
    r"<(script|img|iframe|source|audio|video)\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)"
    r"|<link\b(?=[^>]*\brel=[\"'](?:stylesheet|preload|modulepreload)[\"'])"
    r"[^>]*\bhref=[\"']((?:https?:)?//[^\"']+)",
    re.IGNORECASE,
)


def remote_resources(html: str) -> list[str]:
    """URLs that a page fetches from the network as it loads."""
    return [m.group(2) or m.group(3) for m in REMOTE.finditer(html)]


def mathjax_problems(page: Path, html: str, html_dir: Path) -> list[str]:
    if 'class="math' not in html:
        return []
    sources = re.findall(r'<script\b[^>]*\bsrc="([^"?]*mathjax[^"?]*)', html)
    local = [s for s in sources if s.endswith(MATHJAX.split("/", 1)[1])]
    if not local:
        return [f"{page.name}: has maths but does not load {MATHJAX} (loads {sources})"]
    target = (page.parent / local[0]).resolve()
    if not target.is_file():
        return [f"{page.name}: loads MathJax from {local[0]}, which is not in the build"]
    if not (html_dir / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir():
        return ["_static/mathjax has no CommonHTML fonts"]
    return []


def browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# Chromium's flags for every page it opens: headless, no sandbox (CI containers), no GPU, and
# every host unresolvable, so that a page that needs the network shows it.
OFFLINE_HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def rendered_maths(executable: str, page: Path) -> tuple[int, int, int]:
    """Open ``page`` headless with every host unresolvable; count MathJax's output
    elements, maths left as raw TeX, and MathJax's error elements."""
    dom = subprocess.run(
        [
            executable,
            *OFFLINE_HEADLESS,
            "--virtual-time-budget=20000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    containers = dom.count("<mjx-container")
    # MyST writes maths into <span class="math ..."> / <div class="math ...">; MathJax
    # replaces their TeX by an <mjx-container>
    raw = len(re.findall(r'class="math[^"]*">\s*\\[\(\[]', dom))
    return containers, raw, dom.count("<mjx-merror")


def player_problems(chapter: str, html: str) -> tuple[list[str], list[str]]:
    problems, report = [], []
    for match in re.finditer(
        r'<div class="normlab-frames" id="([^"]+)" data-frames="(\d+)" '
        r'data-seconds="([\d.]+)"(.*?)<script type="application/json">(.*?)</script>',
        html,
        re.DOTALL,
    ):
        uid, announced, seconds, controls, payload = match.groups()
        data = json.loads(payload)
        n = len(data["frames"])
        expected = 1
        for labels in data["labels"]:
            expected *= len(labels)
        if n != int(announced) or n != expected or n < 2:
            problems.append(f"{chapter}: widget {uid} has {n} frames, announces {announced}")
        if controls.count('type="range"') == 0:
            problems.append(f"{chapter}: widget {uid} has no slider")
        report.append(f"{n} frames in {float(seconds):.1f} s")
    return problems, report


def link_problems(html_dir: Path) -> list[str]:
    page = html_dir / SOURCES_PAGE
    if not page.exists():
        return [f"no page {SOURCES_PAGE}"]
    html = page.read_text()
    problems = []
    # the page's own text, not the navigation (which links every chapter without anchor)
    article = re.search(r"<article\b.*?</article>", html, re.DOTALL)
    if article is None:
        return [f"{SOURCES_PAGE}: no <article> element"]
    links = re.findall(r'<a class="reference internal" href="([^"]+)"', article.group(0))
    corrections = [link for link in links if "chapters/" in link]
    if len(corrections) < 20:
        problems.append(f"{SOURCES_PAGE}: only {len(corrections)} links into the chapters")
    for link in corrections:
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve()
        if not target.is_file():
            problems.append(f"{SOURCES_PAGE}: link {link} leads to no page")
        elif not anchor:
            problems.append(f"{SOURCES_PAGE}: link {link} names no section")
        elif f'id="{anchor}"' not in target.read_text():
            problems.append(f"{SOURCES_PAGE}: link {link}: no anchor #{anchor} in {path}")
    return problems


def article(html: str) -> str:
    """The page's own text, without the navigation."""
    match = re.search(r"<article\b.*?</article>", html, re.DOTALL)
    return match.group(0) if match else ""


def resolve(page: Path, link: str) -> tuple[Path, str]:
    path, _, anchor = link.partition("#")
    return (page.parent / path).resolve() if path else page.resolve(), anchor


def numbered(ids: list[str], kind: str) -> dict[int, str]:
    return {int(i.rsplit("-", 1)[1]): i for i in ids if re.fullmatch(rf"{kind}-\d\d-\d+", i)}


def exercise_link_problems(html_dir: Path, chapters: list[str]) -> tuple[list[str], list[str]]:
    """Every exercise links to its solution and every solution back, to anchors that exist."""
    problems, report = [], []
    for chapter in chapters:
        if chapter.startswith("chapters/solutions/"):
            continue
        page = html_dir / f"{chapter}.html"
        solutions = html_dir / chapter.replace("chapters/", "chapters/solutions/", 1)
        solutions = solutions.with_suffix(".html")
        if not page.exists():
            continue  # reported by main()
        nn = Path(chapter).name[:2]
        text = article(page.read_text())
        exercise_ids = numbered(re.findall(r'id="(ex-\d\d-\d+)"', text), "ex")
        if not exercise_ids:
            problems.append(f"{chapter}: no exercise anchors ex-{nn}-k")
            continue
        if not solutions.exists():
            problems.append(f"{chapter}: no solutions page {solutions.relative_to(html_dir)}")
            continue
        solution_text = article(solutions.read_text())
        solution_ids = numbered(re.findall(r'id="(sol-\d\d-\d+)"', solution_text), "sol")
        if sorted(solution_ids) != sorted(exercise_ids):
            problems.append(
                f"{chapter}: exercises {sorted(exercise_ids)}, solutions {sorted(solution_ids)}"
            )
        for source, body, kind, ids in [
            (page, text, "sol", exercise_ids),
            (solutions, solution_text, "ex", solution_ids),
        ]:
            links = re.findall(rf'<a class="reference internal" href="([^"]*#{kind}-[^"]+)"', body)
            linked = {anchor for _, anchor in (resolve(source, link) for link in links)}
            for k in ids:
                if f"{kind}-{nn}-{k}" not in linked:
                    problems.append(f"{source.relative_to(html_dir)}: no link to {kind}-{nn}-{k}")
            for link in links:
                target, anchor = resolve(source, link)
                if not target.is_file():
                    problems.append(f"{source.relative_to(html_dir)}: {link} leads to no page")
                elif f'id="{anchor}"' not in target.read_text():
                    problems.append(f"{source.relative_to(html_dir)}: {link}: no anchor")
        report.append(f"{chapter}: {len(exercise_ids)} exercises, {len(solution_ids)} solutions")
    return problems, report


def figure_width_problems(
    executable: str, page: Path, least: float = 0.85
) -> tuple[list[str], str]:
    """Open ``page`` at a 1280 px window and compare every figure image's natural width with
    the width it is shown at; a figure shrunk below ``least`` of its width has text too small
    to read (issue 14). The page is loaded from a copy in a temporary directory with a
    ``<base>`` pointing back at the build, plus a script that writes the measurements into
    the DOM once the page has loaded."""
    import html as html_module
    import tempfile

    # measured once the document is complete (polled: a "load" listener added this late
    # is not reliably called in headless Chromium), or after 10 s of virtual time when
    # "complete" never comes (seen on a busy machine); an image not loaded by then has no
    # natural width and is counted as such
    measure = (
        "<script>(function () { var done = false; function measure() {"
        "if (done) return; done = true; var rows = [];"
        'document.querySelectorAll("article img").forEach(function (img) {'
        "var shown = img.getBoundingClientRect().width;"
        "rows.push("
        '[(img.getAttribute("src") || "").slice(0, 60), img.naturalWidth, shown]);});'
        'var out = document.createElement("pre"); out.id = "normlab-figure-widths";'
        "out.textContent = JSON.stringify(rows); document.body.appendChild(out);}"
        "var polls = 0; var poll = setInterval(function () { polls += 1;"
        'if (document.readyState === "complete" || polls > 40)'
        "{ clearInterval(poll); measure(); }"
        "}, 250);})();"
        "</script>"
    )
    text = page.read_text()
    base = f'<base href="{page.parent.resolve().as_uri()}/">'
    text = text.replace("<head>", "<head>" + base, 1).replace("</body>", measure + "</body>", 1)
    found = None
    # a long page (precomputed widget frames) on a busy machine may need more virtual time
    for budget_ms in (20000, 120000):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / page.name
            copy.write_text(text)
            dom = subprocess.run(
                [
                    executable,
                    *OFFLINE_HEADLESS,
                    "--window-size=1280,900",
                    f"--virtual-time-budget={budget_ms}",
                    f"--user-data-dir={tmp}/profile",
                    "--dump-dom",
                    copy.as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            ).stdout
        found = re.search(r'<pre id="normlab-figure-widths">(.*?)</pre>', dom, re.DOTALL)
        if found is not None:
            break
    if found is None:
        return [f"{page.relative_to(page.parents[1])}: the figure widths could not be measured"], ""
    rows = json.loads(html_module.unescape(found.group(1)))
    unloaded = [src for src, natural, shown in rows if not natural or not shown]
    rows = [row for row in rows if row[1] and row[2]]
    problems = [
        f"{page.name}: a figure ({src[:40]}...) is shown at {shown:.0f} px of its "
        f"{natural} px ({shown / natural:.0%}, less than {least:.0%})"
        for src, natural, shown in rows
        if shown < least * natural
    ] + [f"{page.name}: a figure ({src[:40]}...) did not load" for src in unloaded]
    smallest = min((shown / natural for _, natural, shown in rows), default=1.0)
    return problems, f"{len(rows)} images, each shown at >= {smallest:.0%} of its width"


PHONE_WIDTH = 390


def phone_maths_problems(executable: str, page: Path) -> tuple[list[str], str]:
    """Open ``page`` in a 390 px wide frame (a phone; headless Chromium's window is at least
    500 px wide, a frame is not) and check that every display formula wider than the column
    sits in a container that scrolls sideways (``overflow-x: auto`` or ``scroll``) instead of
    being clipped (issue 14)."""
    import html as html_module
    import tempfile

    probe = (
        "<script>(function () { var polls = 0; var poll = setInterval(function () {"
        "polls += 1; var ready = document.readyState === 'complete' &&"
        " document.querySelectorAll('mjx-container').length > 0;"
        "if (!(ready && polls > 8) && polls < 80) return; clearInterval(poll); var rows = [];"
        "document.querySelectorAll('mjx-container[display=\"true\"]').forEach(function (m) {"
        "var el = m, scrolls = false; while (el && el.tagName !== 'ARTICLE') {"
        "var ox = getComputedStyle(el).overflowX;"
        "if (ox === 'auto' || ox === 'scroll') { scrolls = true; break; } el = el.parentElement; }"
        "rows.push([Math.round(m.scrollWidth), Math.round(m.getBoundingClientRect().width),"
        " scrolls]); });"
        "var out = document.createElement('pre'); out.id = 'normlab-phone';"
        "out.textContent = JSON.stringify({width: window.innerWidth, rows: rows});"
        "document.body.appendChild(out); }, 250); })();</script>"
    )
    frame = (
        f'<html><body><iframe id="f" src="page.html" width="{PHONE_WIDTH}" height="844">'
        "</iframe><script>var polls = 0; var poll = setInterval(function () { polls += 1;"
        "var d = document.getElementById('f').contentDocument;"
        "var p = d && d.getElementById('normlab-phone'); if (!p && polls < 120) return;"
        "clearInterval(poll); var o = document.createElement('pre'); o.id = 'out';"
        "o.textContent = p ? p.textContent : ''; document.body.appendChild(o);"
        "}, 250);</script></body></html>"
    )
    text = page.read_text()
    base = f'<base href="{page.parent.resolve().as_uri()}/">'
    text = text.replace("<head>", "<head>" + base, 1).replace("</body>", probe + "</body>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "page.html").write_text(text)
        (Path(tmp) / "frame.html").write_text(frame)
        dom = subprocess.run(
            [executable, *OFFLINE_HEADLESS, f"--user-data-dir={tmp}/profile",
             "--allow-file-access-from-files", "--window-size=1280,900",
             "--virtual-time-budget=60000", "--dump-dom", (Path(tmp) / "frame.html").as_uri()],
            capture_output=True, text=True, timeout=300, check=True,
        ).stdout
    found = re.search(r'<pre id="out">(.+?)</pre>', dom, re.DOTALL)
    if found is None:
        return [f"{page.name}: the formulas could not be measured at {PHONE_WIDTH} px"], ""
    result = json.loads(html_module.unescape(found.group(1)))
    if result["width"] != PHONE_WIDTH:
        return [f"{page.name}: the frame was {result['width']} px wide, not {PHONE_WIDTH}"], ""
    wide = [row for row in result["rows"] if row[0] > row[1] + 1]
    clipped = [row for row in wide if not row[2]]
    problems = [
        f"{page.name}: a display formula {w} px wide is clipped at {shown} px on a "
        f"{PHONE_WIDTH} px phone (no container scrolls it)"
        for w, shown, _ in clipped
    ]
    return problems, (f"at {PHONE_WIDTH} px: {len(result['rows'])} display formulas, "
                      f"{len(wide)} wider than the column, all scroll" if not clipped else "")


def chapter_files(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        if str(node.get("file", "")).startswith("chapters/"):
            found.append(node["file"])
        for value in node.values():
            found += chapter_files(value)
    elif isinstance(node, list):
        for value in node:
            found += chapter_files(value)
    return found


def main(html_dir: Path) -> int:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    problems = []
    for page in sorted(html_dir.rglob("*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        html = page.read_text()
        for url in remote_resources(html):
            problems.append(f"{page.relative_to(html_dir)}: loads {url} from the network")
        problems += mathjax_problems(page, html, html_dir)
    problems += link_problems(html_dir)
    executable = None if os.environ.get("NORMLAB_CHECK_BROWSER") == "0" else browser()
    if executable is None:
        print("maths rendering offline: NOT CHECKED (no Chromium; install it to check)")
    found, linked = exercise_link_problems(html_dir, chapter_files(toc))
    problems += found
    for line in linked:
        print(line)
    for chapter in chapter_files(toc):
        page = html_dir / f"{chapter}.html"
        if not page.exists():
            problems.append(f"{chapter}: no page {page}")
            continue
        html = page.read_text()
        figures = len(re.findall(r'<img[^>]+src="(?:\.\./)*_images/', html))
        figures += len(re.findall(r'<img[^>]+src="data:image/', html))
        if figures == 0 and not chapter.startswith("chapters/solutions/"):
            problems.append(f"{chapter}: no figure on the page (is the inline backend active?)")
        if "Traceback (most recent call last)" in html:
            problems.append(f"{chapter}: a cell output shows a traceback")
        found, widgets = player_problems(chapter, html)
        problems += found
        maths = ""
        if executable is not None:
            containers, raw, errors = rendered_maths(executable, page)
            maths = f", offline: {containers} formulas rendered, {raw} raw, {errors} errors"
            if containers == 0 or raw or errors:
                problems.append(f"{chapter}: maths not rendered offline ({maths[11:]})")
            narrow, widths = figure_width_problems(executable, page)
            problems += narrow
            maths += f"; figures at 1280 px: {widths}"
            clipped, phone = phone_maths_problems(executable, page)
            problems += clipped
            maths += f"; {phone}" if phone else ""
        shown = "; widgets: " + ", ".join(widgets) if widgets else ""
        print(f"{chapter:40s} {figures:3d} figures{maths}{shown}")
    for problem in problems:
        print("ERROR:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"))

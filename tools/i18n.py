"""The Simplified-Chinese edition: catalogs, build configuration and the translation check.

The book has one source (the notebooks and the .md pages, in English). Its prose is
translated in gettext catalogs, one per page: ``locales/zh_CN/LC_MESSAGES/<page>.po``.
A paragraph without a translation falls back to English in the zh build; this tool makes
that visible and testable.

    python tools/i18n.py update [--pages intro api ...]   extract .pot files, update the .po files
    python tools/i18n.py config [--execute cache|off]    write the zh build's config file
    python tools/i18n.py check  [--pages ...]            fail on what is untranslated or stale
    python tools/i18n.py rendered _build/html-zh         fail where the build kept the English

``check`` extracts the .pot files afresh from the current sources (or reads them from
``--pot-dir``) and compares *content*, never file times (a fresh clone has meaningless
mtimes). An entry fails when it is

- untranslated (empty msgstr), unless it is display math, which may stay empty;
- fuzzy (sphinx-intl's guess after the English changed: a human must confirm it);
- display math whose msgstr differs from its msgid (a translated ``$$`` block renders as
  ``\\[::\\]``: it must stay empty or identical);
- identical to its English msgid although it contains prose (copied English is an
  untranslated paragraph in disguise; code, names, links and maths may be identical);
- stale: the freshly extracted .pot has msgids that the .po lacks (English text added or
  changed), or the .po translates msgids that the page no longer has.

The API reference is translated only in its page text: the autodoc docstrings (over a
thousand entries that change with every library commit, made of identifiers, shapes and
formulas, and read in English by ``help()`` too) are dropped from ``api.pot`` at
extraction, by their source location (``src/...:docstring of ...``), so they are neither
in the catalog nor in the check, and render in English.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = "zh_CN"
LOCALE_DIR = ROOT / "locales"
CATALOG_DIR = LOCALE_DIR / LANGUAGE / "LC_MESSAGES"
TOC_ZH = ROOT / "_toc.zh_CN.yml"
SEARCH_DICT = LOCALE_DIR / LANGUAGE / "search_dict.txt"  # the book's terms, for jieba
GENERATED = ROOT / "_build" / "i18n"
# The English build's execution cache (make book empties it first, so that every
# notebook runs once per build); the zh build reads the executed outputs from it.
CACHE_DIR = ROOT / "_build" / ".jupyter_cache"

# The pages whose translation is complete and checked by make test. The chapters are
# translated once their prose is final (issue 17); until then make test reports them as a
# count and make i18n-check (all pages) fails.
TRANSLATED = (
    "intro",
    "how_to_use",
    "cite",
    "api",
    "bibliography",
    "appendix/sources",
    "appendix/execution",
    "appendix/claims",
    "chapters/01_norms",
    "chapters/02_lipschitz",
    "chapters/03_batch_norm",
    "chapters/04_resnet",
    "chapters/05_normalization_family",
    "chapters/06_sync_batchnorm",
    "chapters/07_label_smoothing",
    "chapters/08_gan",
    "chapters/09_wgan",
    "chapters/10_spectral_norm",
    "chapters/solutions/01_norms",
    "chapters/solutions/02_lipschitz",
    "chapters/solutions/03_batch_norm",
    "chapters/solutions/04_resnet",
    "chapters/solutions/05_normalization_family",
    "chapters/solutions/06_sync_batchnorm",
    "chapters/solutions/07_label_smoothing",
    "chapters/solutions/08_gan",
    "chapters/solutions/09_wgan",
    "chapters/solutions/10_spectral_norm",
)

SEARCH_BAR_TEXT = "搜索本书……"
OTHER_EDITION = {"en": ("中文版", "zh"), "zh_CN": ("English", "en")}


# ----------------------------------------------------------------------------------------
# configuration files


def _book_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _absolute_paths(cfg: dict) -> dict:
    """Paths in a --config file are resolved relative to that file: make them absolute."""
    sphinx = cfg.setdefault("sphinx", {})
    local = sphinx.get("local_extensions") or {}
    sphinx["local_extensions"] = {name: str(ROOT / path) for name, path in local.items()}
    return cfg


def gettext_config() -> dict:
    """The English config, without execution, for the gettext (extraction) builder."""
    cfg = _absolute_paths(copy.deepcopy(_book_config()))
    cfg["execute"]["execute_notebooks"] = "off"
    cfg["sphinx"].setdefault("config", {})["gettext_compact"] = False
    return cfg


def en_config(cache: Path = CACHE_DIR) -> dict:
    """The English build of make book: _config.yml with execution through a cache.

    make book empties ``cache`` first, so every notebook is still executed once per build
    (the cache cannot see changes in src/, the reason _config.yml says ``force``); the
    executed notebooks stay in the cache for the zh build, which then executes nothing.
    """
    cfg = _absolute_paths(copy.deepcopy(_book_config()))
    cfg["execute"]["execute_notebooks"] = "cache"
    cfg["execute"]["cache"] = str(cache)
    return cfg


def zh_config(execute: str = "cache", cache: Path = CACHE_DIR, other_url: str = "") -> dict:
    """The zh build's config: catalogs, Chinese search, Chinese interface strings.

    ``execute="cache"`` reads the executed notebooks from the English build's cache (a
    notebook missing there, or changed since, is executed); ``"off"`` renders without
    outputs (a quick look at the text).
    """
    if execute not in ("cache", "off", "force"):
        raise ValueError(f"execute: expected 'cache', 'off' or 'force', got {execute!r}")
    cfg = _absolute_paths(copy.deepcopy(_book_config()))
    cfg["title"] = "normlab：范数、归一化与利普希茨网络"
    cfg["execute"]["execute_notebooks"] = execute
    cfg["execute"]["cache"] = str(cache)
    sphinx = cfg["sphinx"]
    conf = sphinx.setdefault("config", {})
    conf.update(
        {
            "language": LANGUAGE,
            "locale_dirs": [str(LOCALE_DIR)],
            "gettext_compact": False,
            # Sphinx's Chinese search splits words with jieba (without it, nothing is found)
            "html_search_language": "zh",
            # jieba's own dictionary cuts 谱归一化 into 谱 + 归一化: the book's terms, whole
            "html_search_options": {"dict": str(SEARCH_DICT)},
            "html_theme_options": {"search_bar_text": SEARCH_BAR_TEXT},
            # where the English edition is, from the zh root (default: _build/html)
            "normlab_other_edition": other_url,
        }
    )
    # Jupyter Book writes its own html_theme_options; merge ours into them
    sphinx["recursive_update"] = True
    # the published zh edition lives under /zh/ of the English site
    base = cfg.get("html", {}).get("baseurl", "")
    if base:
        cfg["html"]["baseurl"] = base.rstrip("/") + "/zh/"
        conf["ogp_site_url"] = cfg["html"]["baseurl"]
    return cfg


def write_config(cfg: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# generated by tools/i18n.py from _config.yml: do not edit\n"
        + yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return path


# ----------------------------------------------------------------------------------------
# catalogs: a small reader for the .po/.pot files that Sphinx and sphinx-intl write


@dataclass
class Entry:
    msgid: str
    msgstr: str = ""
    flags: set[str] = field(default_factory=set)
    locations: list[str] = field(default_factory=list)
    obsolete: bool = False


_ESCAPES = {'"': '"', "n": "\n", "t": "\t", "\\": "\\"}


def _unquote(s: str) -> str:
    """A .po string's content: its escapes decoded in one pass (``\\\\times`` is a
    backslash and ``times``, not a backslash, a TAB and ``imes``)."""
    s = s.strip()
    if not (s.startswith('"') and s.endswith('"')):
        raise ValueError(f"catalog line: expected a quoted string, got {s!r}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), s[1:-1])


def read_catalog(path: Path) -> list[Entry]:
    """The entries of a .po or .pot file (the header entry, msgid "", left out)."""
    entries: list[Entry] = []
    current: Entry | None = None
    target = None
    flags: set[str] = set()
    locations: list[str] = []

    def finish():
        nonlocal current
        if current is not None and current.msgid:
            entries.append(current)
        current = None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            finish()
            target = None
            continue
        if line.startswith("#,"):
            finish()
            flags = {f.strip() for f in line[2:].split(",")}
        elif line.startswith("#:"):
            finish()
            locations.append(line[2:].strip())
        elif line.startswith("#"):
            finish()
        elif line.startswith("msgid "):
            finish()
            current = Entry(_unquote(line[6:]), flags=flags, locations=locations,
                            obsolete=obsolete)
            flags, locations = set(), []
            target = "msgid"
        elif line.startswith("msgstr "):
            if current is None:
                raise ValueError(f"{path}: msgstr without msgid")
            current.msgstr = _unquote(line[7:])
            target = "msgstr"
        elif line.startswith('"') and current is not None and target:
            setattr(current, target, getattr(current, target) + _unquote(line))
    finish()
    return entries


# ----------------------------------------------------------------------------------------
# the rules of the check

# what may stay English inside a translated entry: code, maths, roles, links, URLs
_NEUTRAL = [
    re.compile(r"`[^`]*`"),  # inline code and the target of a role
    re.compile(r"\{[\w:-]+\}"),  # the role's name, {doc} {ref} {cite:t}
    re.compile(r"\$[^$]*\$"),  # inline maths
    re.compile(r"\]\([^)]*\)"),  # a link's target
    re.compile(r"https?://\S+"),
    re.compile(r"<[^>]*>"),  # a link target or html tag
]
PROSE = re.compile(r"[A-Za-z]{2,}(?:\W+[A-Za-z]{2,}){2,}")  # three English words in a row


TEX_COMMAND = re.compile(r"\\[A-Za-z]+|[_^]\{")


# msgstr is parsed as MyST: "1. Title" becomes a list, and Sphinx then keeps the English
# (the msgid of a heading "## 1. Title" is "1. Title": its msgstr must escape the dot)
LIST_START = re.compile(r"^\d+[.)](\s|$)")


def is_display_math(msgid: str) -> bool:
    """Whether an entry is a display-math block (``$$ ... $$`` or an amsmath environment).

    MyST extracts the block's TeX without its dollars: a block written over several lines
    starts and ends with a newline; a one-line block or an environment is TeX with no
    ``$`` of inline maths, no code and no English prose around it.
    """
    if len(msgid) > 1 and msgid.startswith("\n") and msgid.endswith("\n"):
        return True
    text = msgid.strip()
    if text.startswith("\\begin{"):
        return True
    return ("$" not in text and "`" not in text and bool(TEX_COMMAND.search(text))
            and not has_prose(re.sub(r"\\[A-Za-z]+", " ", text)))


def has_prose(text: str) -> bool:
    """Whether ``text`` has English prose left once code, maths, roles and links are removed."""
    for pattern in _NEUTRAL:
        text = pattern.sub(" ", text)
    return bool(PROSE.search(text))


def entry_problems(entry: Entry) -> list[str]:
    """What is wrong with one (non-obsolete) entry of a .po file; empty when it is fine."""
    short = entry.msgid.replace("\n", " ")
    short = short if len(short) <= 70 else short[:67] + "..."
    if is_display_math(entry.msgid):
        if entry.msgstr and entry.msgstr != entry.msgid:
            return [f"display math changed (must stay empty or identical): {short!r}"]
        if "fuzzy" in entry.flags:
            return [f"fuzzy display math (empty it): {short!r}"]
        return []
    problems = []
    if LIST_START.match(entry.msgstr):
        problems.append(f"starts like a numbered list item, which Sphinx rejects for a heading "
                        f"or paragraph (write 1\\. ...): {short!r}")
    if "fuzzy" in entry.flags:
        problems.append(f"fuzzy: {short!r}")
    if not entry.msgstr:
        problems.append(f"untranslated: {short!r}")
    elif entry.msgstr == entry.msgid and has_prose(entry.msgid):
        problems.append(f"identical to the English, which is prose: {short!r}")
    return problems


def catalog_problems(po: Path, pot: Path | None) -> list[str]:
    """Every problem of one page's catalog, compared with the page's fresh .pot."""
    if pot is not None and not pot.is_file():
        return [f"{pot}: no such template (is the page in _toc.yml?)"]
    if not po.is_file():
        return [f"no catalog {po.relative_to(ROOT) if po.is_relative_to(ROOT) else po}"
                " (run: python tools/i18n.py update)"]
    entries = [e for e in read_catalog(po) if not e.obsolete]
    problems = [p for e in entries for p in entry_problems(e)]
    if pot is not None:
        wanted = {e.msgid for e in read_catalog(pot)}
        have = {e.msgid for e in entries}
        for msgid in sorted(wanted - have):
            problems.append(f"stale: the English has text the catalog lacks: {msgid[:60]!r}")
        for msgid in sorted(have - wanted):
            problems.append(f"stale: the catalog translates text the English no longer has: "
                            f"{msgid[:60]!r}")
    return problems


def count_untranslated(po: Path) -> tuple[int, int]:
    """(entries still to translate, entries) of a catalog."""
    entries = [e for e in read_catalog(po) if not e.obsolete]
    return sum(bool(entry_problems(e)) for e in entries), len(entries)


def _key(text: str) -> str:
    """Letters and digits only (any script), lower case: what survives rendering (quotes,
    markup) unchanged. Chinese characters count: a translated sentence that keeps an English
    term in parentheses, or a table cell "Warde-Farley 与 Bengio", is not its English."""
    return re.sub(r"[\W_]", "", text).lower()


def rendered_key(msgid: str) -> str:
    """``_key`` of the text that ``msgid`` renders as (maths, code markup and link targets gone)."""
    text = re.sub(r"\$[^$]*\$", " ", msgid)
    text = re.sub(r"\{[\w:-]+\}`([^`<]*?)\s*<[^>]*>`", r"\1", text)  # {ref}`text <target>`
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)  # {doc}`page`: the title is not known
    text = re.sub(r"\]\([^)]*\)", "", text)  # [text](target)
    return _key(text)


_BLOCK = re.compile(r"<(h[1-6]|p|li|td|th|dt|caption)\b[^>]*>(.*?)</\1>", re.S)


def page_blocks(html: str) -> set[str]:
    """``_key`` of every heading, paragraph, list item and table cell of a page's article."""
    start, end = html.find("<article"), html.rfind("</article>")
    article = html[start:end] if start >= 0 and end > start else html
    article = re.sub(r'<(span|div) class="math[^"]*"[^>]*>.*?</\1>', " ", article, flags=re.S)
    article = re.sub(r'<a class="headerlink".*?</a>', " ", article, flags=re.S)
    return {_key(re.sub(r"<[^>]+>", " ", m.group(2))) for m in _BLOCK.finditer(article)}


def html_problems(po: Path, html: Path) -> list[str]:
    """Translated entries that the built page shows in English.

    Sphinx keeps the English, silently, when it cannot use a translation (e.g. a msgstr
    that parses as another kind of node than its msgid). An entry counts as shown in
    English when a heading, paragraph, list item or table cell of the page has exactly its
    English text (compared on letters and digits, maths left out).
    """
    if not html.is_file():
        return [f"no page {html}"]
    blocks = page_blocks(html.read_text(encoding="utf-8"))
    problems = []
    for entry in read_catalog(po):
        if entry.obsolete or not entry.msgstr or entry.msgstr == entry.msgid:
            continue
        key = rendered_key(entry.msgid)
        if len(key) >= 12 and has_prose(entry.msgid) and key in blocks:
            short = entry.msgid if len(entry.msgid) <= 70 else entry.msgid[:67] + "..."
            problems.append(f"shown in English in {html.name}: {short!r}")
    return problems


# ----------------------------------------------------------------------------------------
# extraction and update


def toc_pages(toc: Path = ROOT / "_toc.yml") -> list[str]:
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    pages = [data["root"]]

    def add(entries: list[dict]) -> None:
        for entry in entries:
            pages.append(entry["file"])
            add(entry.get("sections", []))  # e.g. a chapter's solutions page

    for part in data.get("parts", []):
        add(part.get("chapters", []))
    return [str(Path(p).with_suffix("")) for p in pages]


def is_docstring(location: str) -> bool:
    return "docstring of " in location


def is_generated(location: str) -> bool:
    """Line 0: text that Sphinx generated (field names of a docstring, table headers)."""
    return location.endswith(":0")


def clean_template(pot: Path) -> int:
    """Drop the entries that come only from autodoc docstrings; returns how many.

    The locations are made relative to the book's root (the builder writes them relative
    to its output folder, ``../../../../../intro.md:3``), so that the catalogs do not
    depend on where the templates were extracted.
    """
    text = re.sub(r"^#: (?:\.\./)+", "#: ", pot.read_text(encoding="utf-8"), flags=re.M)
    blocks = text.split("\n\n")
    kept, dropped = [], 0
    for block in blocks:
        # one location a line ("path:docstring of name:line" has spaces)
        locations = [line[2:].strip() for line in block.splitlines() if line.startswith("#:")]
        # an entry of the docstrings alone, or of the docstrings and generated text (the
        # "Parameters" fields that api.md:0 shares with them)
        if (any(is_docstring(loc) for loc in locations)
                and all(is_docstring(loc) or is_generated(loc) for loc in locations)):
            dropped += 1
            continue
        kept.append(block)
    pot.write_text("\n\n".join(kept), encoding="utf-8")
    return dropped


def extract(out: Path, python: str = sys.executable) -> Path:
    """Run the gettext builder (no execution) and return the folder of the .pot files."""
    cfg = write_config(gettext_config(), GENERATED / "_config.gettext.yml")
    jb = Path(python).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT), "--config", str(cfg),
           "--builder", "custom", "--custom-builder", "gettext", "--path-output", str(out),
           "--all", "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    pot_dir = out / "_build" / "gettext"
    if not pot_dir.is_dir():
        raise RuntimeError(f"the gettext build wrote no {pot_dir}")
    for pot in pot_dir.rglob("*.pot"):
        clean_template(pot)
    return pot_dir


def _pot_for(pot_dir: Path, page: str) -> Path:
    return pot_dir / f"{page}.pot"


def _po_for(page: str) -> Path:
    return CATALOG_DIR / f"{page}.po"


def update(pages: list[str], pot_dir: Path | None) -> None:
    pot_dir = pot_dir or extract(GENERATED / "gettext")
    sphinx_intl = Path(sys.executable).parent / "sphinx-intl"
    for page in pages:
        pot = _pot_for(pot_dir, page)
        if not pot.is_file():
            raise ValueError(f"pages: no template for {page!r} in {pot_dir}")
        # sphinx-intl updates every .pot under its -p folder: give it this page's alone
        with tempfile.TemporaryDirectory() as tmp:
            one = Path(tmp) / f"{page}.pot"
            one.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(pot, one)
            subprocess.run([str(sphinx_intl) if sphinx_intl.exists() else "sphinx-intl",
                            "update", "-p", tmp, "-d", str(LOCALE_DIR), "-l", LANGUAGE,
                            "-w", "0"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        reset_display_math(_po_for(page))
        todo, total = count_untranslated(_po_for(page))
        print(f"{page}: {total} entries, {todo} to translate or confirm")


def reset_display_math(po: Path) -> None:
    """Display math is never translated: empty every msgstr sphinx-intl guessed for it."""
    # (and locations relative to the root, as in the templates: sphinx-intl keeps a
    # catalog's old locations when its messages did not change)
    text = re.sub(r"^#: (?:\.\./)+", "#: ", po.read_text(encoding="utf-8"), flags=re.M)
    out = []
    for block in text.split("\n\n"):
        entry = next(iter(read_catalog_text(block)), None)
        if entry is not None and is_display_math(entry.msgid) and not entry.obsolete:
            lines = [ln for ln in block.splitlines() if not ln.startswith("#, fuzzy")
                     and not ln.startswith("#| ")]
            start = next(i for i, ln in enumerate(lines) if ln.startswith("msgstr "))
            block = "\n".join(lines[:start] + ['msgstr ""'])
        out.append(block)
    po.write_text("\n\n".join(out), encoding="utf-8")


def read_catalog_text(text: str) -> list[Entry]:
    with tempfile.NamedTemporaryFile("w", suffix=".po", delete=False, encoding="utf-8") as f:
        f.write(text + "\n")
    try:
        return read_catalog(Path(f.name))
    finally:
        Path(f.name).unlink()


def check(pages: list[str], pot_dir: Path | None, report: list[str],
          html_dir: Path | None = None) -> int:
    """Print every problem of the given pages' catalogs; returns the number of problems.

    ``report`` pages are not checked, only counted (the pages not translated yet). With
    ``html_dir`` (a built zh edition), each page is also checked for English fallbacks.
    """
    pot_dir = pot_dir or extract(GENERATED / "gettext")
    n = 0
    for page in pages:
        problems = catalog_problems(_po_for(page), _pot_for(pot_dir, page))
        if html_dir is not None and not problems:
            problems = html_problems(_po_for(page), html_dir / f"{page}.html")
        for p in problems:
            print(f"{page}: {p}")
        n += len(problems)
        if not problems:
            print(f"{page}: ok ({len(read_catalog(_po_for(page)))} entries)")
    if report:
        todo = total = 0
        for page in report:
            pot = _pot_for(pot_dir, page)
            entries = read_catalog(pot) if pot.is_file() else []
            po = _po_for(page)
            if po.is_file():
                t, _ = count_untranslated(po)
            else:
                t = len(entries)
            todo += t
            total += len(entries)
        print(f"not checked: {len(report)} pages not translated yet, {todo} of their "
              f"{total} entries untranslated (make i18n-check checks every page)")
    return n


# ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update", help="extract the .pot files and update the zh_CN catalogs")
    up.add_argument("--pages", nargs="+", help="pages (default: every page in _toc.yml)")
    up.add_argument("--pot-dir", type=Path, help="use these .pot files instead of extracting")
    cf = sub.add_parser("config", help="write the zh build's config file")
    cf.add_argument("--edition", default=LANGUAGE, choices=["en", LANGUAGE],
                    help="en: make book's English config (cache mode); zh_CN: the zh build's")
    cf.add_argument("--execute", default="cache", choices=["cache", "off", "force"])
    cf.add_argument("--cache", type=Path, default=CACHE_DIR)
    cf.add_argument("--other-url", default="", help="the English edition, from a zh page's folder")
    cf.add_argument("--out", type=Path, default=GENERATED / "_config.zh_CN.yml")
    ck = sub.add_parser("check", help="fail on untranslated, fuzzy, changed-maths or stale entries")
    ck.add_argument("--pages", nargs="+", help="pages to check (default: every page)")
    ck.add_argument("--translated", action="store_true",
                    help="check the pages listed in TRANSLATED, count the others")
    ck.add_argument("--pot-dir", type=Path, help="use these .pot files instead of extracting")
    ck.add_argument("--html", type=Path,
                    help="a built zh edition: also fail where a page shows English instead")
    rd = sub.add_parser("rendered",
                        help="fail where a built zh page shows translated text in English")
    rd.add_argument("html_dir", type=Path, help="the built zh edition, e.g. _build/html-zh")
    rd.add_argument("--pages", nargs="+", help="pages (default: the translated ones)")
    args = parser.parse_args(argv)

    all_pages = toc_pages()
    if args.command == "config":
        if args.edition == "en":
            cfg = en_config(args.cache.resolve())
            out = args.out if args.out != cf.get_default("out") else GENERATED / "_config.en.yml"
        else:
            cfg, out = zh_config(args.execute, args.cache.resolve(), args.other_url), args.out
        path = write_config(cfg, out)
        print(path)
        return 0
    if args.command == "rendered":
        n = 0
        for page in args.pages or TRANSLATED:
            problems = html_problems(_po_for(page), args.html_dir / f"{page}.html")
            for p in problems:
                print(f"{page}: {p}")
            n += len(problems)
        print(f"{n} translated entries shown in English in {args.html_dir}")
        return 1 if n else 0
    pages = args.pages or (list(TRANSLATED) if getattr(args, "translated", False) else all_pages)
    unknown = [p for p in pages if p not in all_pages]
    if unknown:
        raise ValueError(f"pages: expected pages of _toc.yml, got {unknown}")
    if args.command == "update":
        update(pages, args.pot_dir)
        return 0
    report = [p for p in all_pages if p not in pages] if args.translated else []
    n = check(pages, args.pot_dir, report, args.html)
    if n:
        print(f"{n} problems in the zh_CN catalogs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

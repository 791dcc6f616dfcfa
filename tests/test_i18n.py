"""The Chinese edition's tooling (tools/i18n.py, _ext/normlab_i18n.py, _toc.zh_CN.yml).

The checker is tested on small synthetic catalogs: each rule must fail on the case it is
for and pass on the case next to it. No Sphinx build runs here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


i18n = _load("normlab_tools_i18n", ROOT / "tools" / "i18n.py")
edition = _load("normlab_i18n_ext", ROOT / "_ext" / "normlab_i18n.py")

HEADER = 'msgid ""\nmsgstr ""\n"Language: zh_CN\\n"\n\n'
MATH = "\\n\\\\|x\\\\|_2 = \\\\sqrt{x^\\\\top x}\\n"  # a $$ block as MyST extracts it


def po(tmp_path: Path, name: str, *entries: str) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n\n".join(entries) + "\n", encoding="utf-8")
    return path


def entry(msgid: str, msgstr: str = "", flags: str = "", location: str = "page.md:3") -> str:
    lines = [f"#: {location}"]
    if flags:
        lines.append(f"#, {flags}")
    return "\n".join(lines + [f'msgid "{msgid}"', f'msgstr "{msgstr}"'])


def problems(tmp_path, *entries, pot_entries=None):
    catalog = po(tmp_path, "page.po", *entries)
    template = po(tmp_path, "page.pot", *(pot_entries if pot_entries is not None else
                                          [entry(e.split('msgid "')[1].split('"\nmsgstr')[0])
                                           for e in entries]))
    return i18n.catalog_problems(catalog, template)


def test_a_translated_catalog_passes(tmp_path):
    translated = entry("The spectral norm is the largest value.", "谱范数是最大的奇异值。")
    assert problems(tmp_path, translated, entry(MATH, "")) == []


def test_untranslated_entry_fails(tmp_path):
    found = problems(tmp_path, entry("The spectral norm is the largest value.", ""))
    assert len(found) == 1 and found[0].startswith("untranslated")


def test_fuzzy_entry_fails_even_when_translated(tmp_path):
    found = problems(tmp_path, entry("Power iteration converges fast.", "幂迭代收敛很快。",
                                     "fuzzy"))
    assert len(found) == 1 and found[0].startswith("fuzzy")


def test_display_math_may_stay_empty_or_identical_but_not_change(tmp_path):
    assert problems(tmp_path, entry(MATH, "")) == []
    assert problems(tmp_path, entry(MATH, MATH)) == []
    changed = MATH.replace("sqrt", "sqrt\\\\,")
    found = problems(tmp_path, entry(MATH, changed))
    assert len(found) == 1 and found[0].startswith("display math changed")


def test_copied_english_prose_fails_but_code_names_and_maths_may_be_identical(tmp_path):
    found = problems(tmp_path, entry("Three promises hold on every page:",
                                     "Three promises hold on every page:"))
    assert len(found) == 1 and found[0].startswith("identical to the English")
    neutral = ["`NORMLAB_DEVICE`", "1. {doc}`chapters/01_norms`", "$\\\\lVert A\\\\rVert_1$",
               "`cpu`, `cuda`, `cuda:N`", "BatchNorm, LayerNorm"]
    assert problems(tmp_path, *[entry(n, n) for n in neutral if not n[0].isdigit()]) == []


def test_a_msgstr_that_parses_as_a_numbered_list_fails(tmp_path):
    msgid = '1. \\"nn.utils.spectral_norm\\": a question-and-answer page'
    found = problems(tmp_path, entry(msgid, "1. “nn.utils.spectral_norm”：一个问答页面"))
    assert len(found) == 1 and "numbered list" in found[0]
    assert problems(tmp_path, entry(msgid, "1\\\\. “nn.utils.spectral_norm”：一个问答页面")) == []


def test_stale_catalog_fails_on_new_and_on_removed_english_text(tmp_path):
    translated = entry("Old sentence of the page.", "页面上的旧句子。")
    found = problems(tmp_path, translated, pot_entries=[entry("New sentence of the page.")])
    assert sorted(p.split(":")[1].strip() for p in found) == [
        "the English has text the catalog lacks",
        "the catalog translates text the English no longer has",
    ]
    # the comparison is of content: a catalog that matches its template is not stale, whatever
    # the files' times (a fresh clone's mtimes say nothing)
    assert problems(tmp_path, translated, pot_entries=[entry("Old sentence of the page.")]) == []


def test_obsolete_entries_are_ignored(tmp_path):
    catalog = po(tmp_path, "page.po", entry("Kept text of the page.", "保留的文字。"),
                 '#~ msgid "Removed text of the page."\n#~ msgstr ""')
    template = po(tmp_path, "page.pot", entry("Kept text of the page."))
    assert i18n.catalog_problems(catalog, template) == []


def test_missing_catalog_is_a_problem(tmp_path):
    template = po(tmp_path, "page.pot", entry("Some text of the page."))
    found = i18n.catalog_problems(tmp_path / "absent.po", template)
    assert len(found) == 1 and "no catalog" in found[0]


def test_reader_joins_multiline_strings_and_unescapes(tmp_path):
    path = tmp_path / "m.po"
    path.write_text(HEADER + '#: a.md:1\n#, fuzzy\nmsgid ""\n"first \\"part\\" "\n"second"\n'
                    'msgstr "译文"\n', encoding="utf-8")
    (e,) = i18n.read_catalog(path)
    assert (e.msgid, e.msgstr, e.flags, e.locations) == ('first "part" second', "译文", {"fuzzy"},
                                                         ["a.md:1"])


def test_reader_decodes_escapes_in_one_pass(tmp_path):
    # an escaped backslash before t or n is a backslash and a letter (\\times, \\nabla),
    # not a backslash and a TAB or a newline
    path = tmp_path / "e.po"
    path.write_text(HEADER + '#: a.md:1\nmsgid "\\\\times \\\\nabla \\n \\" \\t"\nmsgstr ""\n',
                    encoding="utf-8")
    (e,) = i18n.read_catalog(path)
    assert e.msgid == '\\times \\nabla \n " \t'
    assert i18n.is_display_math("\\theta = \\nabla f") is True


def test_reader_rejects_an_unquoted_string(tmp_path):
    path = tmp_path / "bad.po"
    path.write_text('msgid hello\nmsgstr ""\n', encoding="utf-8")
    with pytest.raises(ValueError, match="expected a quoted string"):
        i18n.read_catalog(path)


@pytest.mark.parametrize("msgid, expected", [
    ("\n\\sigma_1 = \\max_x \\|Wx\\|\n", True),     # a multi-line $$ block
    ("\\begin{aligned} a &= b \\end{aligned}", True),
    ("\\hat\\sigma = u^\\top W v", True),             # a one-line $$ block
    ("for unit $u$ and $v$, the estimate never overshoots", False),
    ("`torch.norm(A, p=1)` is the entrywise sum", False),
    ("The estimate is sigma hat, never above the norm", False),
])
def test_display_math_detection(msgid, expected):
    assert i18n.is_display_math(msgid) is expected


def test_docstring_entries_are_dropped_from_the_api_template(tmp_path):
    pot = tmp_path / "api.pot"
    pot.write_text(HEADER + "\n\n".join([
        entry("API reference", location="../../../api.md:1"),
        entry("Parameters", location="../../../api.md:0\n#: ../../src/normlab/linalg.py:"
              "docstring of normlab.linalg.vector_norm:0"),
        entry("The vector p-norm of x.", location="../../src/normlab/linalg.py:docstring of "
              "normlab.linalg.vector_norm:1"),
        entry("Norms and power iteration", location="../../../api.md:7\n#: ../../src/normlab/"
              "linalg.py:docstring of normlab.linalg:1"),
    ]) + "\n", encoding="utf-8")
    assert i18n.clean_template(pot) == 2
    kept = i18n.read_catalog(pot)
    assert [e.msgid for e in kept] == ["API reference", "Norms and power iteration"]
    assert kept[0].locations == ["api.md:1"]  # relative to the book's root


def test_rendered_check_finds_english_fallbacks(tmp_path):
    catalog = po(tmp_path, "page.po",
                 entry('1. \\"nn.utils.spectral_norm\\": a question-and-answer page',
                       "1\\\\. “nn.utils.spectral_norm”：问答页面"),
                 entry("It estimates $\\\\sigma_1$ alone by power iteration.",
                       "它只用幂迭代估计 $\\\\sigma_1$。"),
                 entry("`NORMLAB_SEED`", "`NORMLAB_SEED`"))
    english = tmp_path / "en.html"
    english.write_text(
        '<nav><p>It estimates alone by power iteration.</p></nav><article>'
        '<h2>1. “nn.utils.spectral_norm”: a question-and-answer page<a class="headerlink" '
        'href="#x">#</a></h2><p>It estimates <span class="math notranslate">\\(\\sigma_1\\)'
        '</span> alone by power iteration.</p><p>NORMLAB_SEED</p></article>', encoding="utf-8")
    assert len(i18n.html_problems(catalog, english)) == 2
    chinese = tmp_path / "zh.html"
    chinese.write_text('<nav><p>It estimates alone by power iteration.</p></nav><article>'
                       "<h2>1. “nn.utils.spectral_norm”：问答页面</h2><p>它只用幂迭代估计 "
                       '<span class="math">\\(\\sigma_1\\)</span>。</p></article>',
                       encoding="utf-8")
    assert i18n.html_problems(catalog, chinese) == []  # the sidebar is not the page's text


def test_a_translation_that_keeps_english_words_is_not_an_english_fallback(tmp_path):
    # the Chinese keeps the English term in parentheses, or names: its letters alone equal
    # the English heading's, but the block is Chinese
    catalog = po(tmp_path, "page.po", entry("One-sided label smoothing", "单侧标签平滑"),
                 entry("Warde-Farley & Bengio", "Warde-Farley 与 Bengio"))
    chinese = tmp_path / "zh.html"
    chinese.write_text("<article><h2>单侧标签平滑</h2><ul><li><p>使用单侧标签平滑（one-sided "
                       "label smoothing）。</p></li></ul><table><tr><td><p>Warde-Farley 与 Bengio"
                       "</p></td></tr></table></article>", encoding="utf-8")
    assert i18n.html_problems(catalog, chinese) == []
    english = tmp_path / "en.html"
    english.write_text("<article><h2>One-sided label smoothing</h2></article>", encoding="utf-8")
    assert len(i18n.html_problems(catalog, english)) == 1


def test_zh_config_sets_language_catalogs_search_and_cache(tmp_path):
    cfg = i18n.zh_config("cache", tmp_path / "cache")
    conf = cfg["sphinx"]["config"]
    assert conf["language"] == "zh_CN" and conf["gettext_compact"] is False
    assert conf["locale_dirs"] == [str(ROOT / "locales")]
    assert conf["html_search_language"] == "zh"
    assert conf["html_theme_options"]["search_bar_text"] == i18n.SEARCH_BAR_TEXT
    assert cfg["sphinx"]["recursive_update"] is True
    assert cfg["execute"] == {**i18n._book_config()["execute"], "execute_notebooks": "cache",
                              "cache": str(tmp_path / "cache")}
    # paths of a --config file are relative to that file: the extension's must be absolute
    assert all(Path(p).is_absolute() for p in cfg["sphinx"]["local_extensions"].values())


def test_en_config_changes_only_the_execution_mode(tmp_path):
    book = i18n._book_config()
    cfg = i18n.en_config(tmp_path / "cache")
    assert cfg["execute"] == {**book["execute"], "execute_notebooks": "cache",
                              "cache": str(tmp_path / "cache")}
    assert {k: v for k, v in cfg.items() if k not in ("execute", "sphinx")} == {
        k: v for k, v in book.items() if k not in ("execute", "sphinx")}
    assert cfg["sphinx"]["config"] == book["sphinx"]["config"]


def test_zh_config_rejects_an_unknown_execution_mode():
    with pytest.raises(ValueError, match="execute: expected 'cache', 'off' or 'force', got 'auto'"):
        i18n.zh_config("auto")


def test_check_rejects_pages_that_are_not_in_the_toc():
    with pytest.raises(ValueError, match=r"pages: expected pages of _toc.yml, got \['nope'\]"):
        i18n.main(["check", "--pages", "nope", "--pot-dir", str(ROOT)])


def test_zh_toc_lists_the_same_pages_with_chinese_captions():
    assert i18n.toc_pages(ROOT / "_toc.zh_CN.yml") == i18n.toc_pages(ROOT / "_toc.yml")
    en = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    zh = yaml.safe_load(i18n.TOC_ZH.read_text(encoding="utf-8"))
    assert [p.get("numbered") for p in zh["parts"]] == [p.get("numbered") for p in en["parts"]]
    for part in zh["parts"]:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in part["caption"]), part["caption"]


def test_the_translated_pages_have_catalogs_and_are_in_the_toc():
    pages = i18n.toc_pages()
    for page in i18n.TRANSLATED:
        assert page in pages
        assert (i18n.CATALOG_DIR / f"{page}.po").is_file(), page
        todo, total = i18n.count_untranslated(i18n.CATALOG_DIR / f"{page}.po")
        assert total > 0 and todo == 0, (page, todo, total)


@pytest.mark.parametrize("page, language, prefix, href, label", [
    ("intro", "en", "../html-zh/", "../html-zh/intro.html", "中文版"),
    ("chapters/01_norms", "en", "../html-zh/", "../../html-zh/chapters/01_norms.html", "中文版"),
    ("appendix/sources", "zh_CN", "../html/", "../../html/appendix/sources.html", "English"),
    ("api", "zh_CN", "https://normlab.github.io/normlab/",
     "https://normlab.github.io/normlab/api.html", "English"),
])
def test_edition_link_points_at_the_same_page_of_the_other_edition(page, language, prefix, href,
                                                                   label):
    html = edition.other_edition_link(page, language, prefix)
    assert f'href="{href}"' in html and f">{label}</a>" in html


def test_no_edition_link_without_a_place_for_the_other_edition(monkeypatch):
    monkeypatch.delenv(edition.VARIABLE, raising=False)
    assert edition.other_edition_link("intro", "en", "") == ""
    monkeypatch.setenv(edition.VARIABLE, "zh/")
    assert 'href="zh/intro.html"' in edition.other_edition_link("intro", "en", "")

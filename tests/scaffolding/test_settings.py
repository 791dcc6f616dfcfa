"""The environment knobs are parsed once, strictly, and the chapter set-up uses them."""

from __future__ import annotations

import pytest
import torch

import normlab
from normlab.scaffolding import settings
from normlab.scaffolding.chapter import ChapterSetup, setup_chapter


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "on", "On"])
def test_flag_values_that_mean_on(monkeypatch, raw):
    monkeypatch.setenv("NORMLAB_FULL", raw)
    assert settings.full_runs() is True


@pytest.mark.parametrize("raw", ["", "0", "false", "No", "off", " OFF "])
def test_flag_values_that_mean_off(monkeypatch, raw):
    monkeypatch.setenv("NORMLAB_FULL", raw)
    assert settings.full_runs() is False


def test_unset_flag_is_its_default(monkeypatch):
    monkeypatch.delenv("NORMLAB_FULL", raising=False)
    assert settings.full_runs() is False
    assert settings.env_flag("NORMLAB_FULL", default=True) is True


@pytest.mark.parametrize("raw", ["2", "ture", "yess", "-1", "full"])
@pytest.mark.parametrize("name", ["NORMLAB_FULL", "NORMLAB_QUIET"])
def test_anything_else_is_an_error_naming_the_variable(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    reader = settings.full_runs if name == "NORMLAB_FULL" else settings.quiet
    with pytest.raises(ValueError, match=f"{name} must be one of 1/0.*got {raw!r}"):
        reader()


def test_quiet_honours_tqdm_disable(monkeypatch):
    monkeypatch.setenv("NORMLAB_QUIET", "0")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert normlab.scaffolding.progress.is_quiet()
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not normlab.scaffolding.progress.is_quiet()
    monkeypatch.setenv("NORMLAB_QUIET", "false")  # used to mean "quiet"
    assert not normlab.scaffolding.progress.is_quiet()


@pytest.mark.parametrize(("raw", "expected"), [("", 0), ("0", 0), ("7", 7), (" 12 ", 12)])
def test_seed_offset(monkeypatch, raw, expected):
    monkeypatch.setenv("NORMLAB_SEED", raw)
    assert settings.seed_offset() == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [("-1", ">= 0"), ("1.5", "an integer"), ("abc", "an integer"), (str(2**31), "below 2\\*\\*31")],
)
def test_bad_seed_offsets(monkeypatch, raw, message):
    monkeypatch.setenv("NORMLAB_SEED", raw)
    with pytest.raises(ValueError, match=f"NORMLAB_SEED must be .*{message}"):
        settings.seed_offset()


def test_setup_chapter_shifts_every_seed(monkeypatch, capsys):
    monkeypatch.setenv("NORMLAB_SEED", "5")
    monkeypatch.setenv("NORMLAB_FULL", "no")
    threads = torch.get_num_threads()
    try:
        chapter = setup_chapter()
    finally:
        torch.set_num_threads(threads)
    assert isinstance(chapter, ChapterSetup)
    assert chapter.seed_offset == 5 and chapter.full is False
    assert chapter.seed(0) == 5 and chapter.seed(3) == 8
    assert chapter.seeds(3, start=1) == [6, 7, 8]
    assert chapter.generator(2).initial_seed() == 7
    # the global generators are seeded with seed(0)
    first = torch.rand(3)
    torch.manual_seed(5)
    torch.testing.assert_close(first, torch.rand(3))
    out = capsys.readouterr().out
    assert f"normlab {normlab.__version__}" in out and "seed offset 5" in out


def test_setup_chapter_sets_one_thread_on_the_cpu(monkeypatch):
    monkeypatch.setenv("NORMLAB_DEVICE", "cpu")
    threads = torch.get_num_threads()
    try:
        chapter = setup_chapter(threads=1, quiet=True)
        assert torch.get_num_threads() == 1 and chapter.threads == 1
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("bad", [0, -2])
def test_setup_chapter_rejects_bad_threads(bad):
    with pytest.raises(ValueError, match="threads must be a positive int"):
        setup_chapter(threads=bad, quiet=True)


def test_seed_rejects_negative_and_non_int():
    chapter = ChapterSetup(torch.device("cpu"), False, 0, None)
    with pytest.raises(ValueError, match="k must be a non-negative int"):
        chapter.seed(-1)
    with pytest.raises(TypeError, match="k must be"):
        chapter.seed(1.5)
    with pytest.raises(ValueError, match="n must be a positive int"):
        chapter.seeds(0)


def test_setup_chapter_reports_a_bad_knob(monkeypatch):
    monkeypatch.setenv("NORMLAB_FULL", "ture")
    with pytest.raises(ValueError, match="NORMLAB_FULL"):
        setup_chapter(quiet=True)

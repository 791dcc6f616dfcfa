"""normlab.scaffolding.recording: results keep their provenance; bad input fails."""

import json
import math

import pytest

from normlab.scaffolding.recording import (
    Recording,
    load_recording,
    platform_name,
    recording_requested,
    save_recording,
)


def test_round_trip_keeps_results_settings_and_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAB_SEED", "3")
    monkeypatch.setenv("NORMLAB_FULL", "1")
    path = tmp_path / "recorded" / "x.json"
    results = {"loss": {"plain": [0.5, 0.25], "residual": [0.125]}, "steps": 10, "ok": True}
    saved = save_recording(path, results, name="a test run", settings={"lr": 0.1, "seeds": [0, 1]},
                           command="make record NOTEBOOK=x")
    loaded = load_recording(path)
    assert loaded == saved
    assert loaded.results == results and loaded.settings == {"lr": 0.1, "seeds": [0, 1]}
    assert loaded.seed_offset == 3 and loaded.full is True
    assert loaded.platform == platform_name() and loaded.command == "make record NOTEBOOK=x"
    assert loaded.date[:4].isdigit() and loaded.commit
    text = loaded.describe()
    assert text.startswith("Recorded run: a test run (NORMLAB_FULL settings, seed offset 3).")
    assert "make record NOTEBOOK=x" in text and loaded.platform in text
    assert len(text.splitlines()) == 2
    assert not list(path.parent.glob("*.tmp"))  # the atomic write left no temporary file


def test_tuples_become_lists(tmp_path):
    rec = save_recording(tmp_path / "t.json", {"pair": (1, 2)}, name="tuples")
    assert rec.results == {"pair": [1, 2]}
    assert load_recording(tmp_path / "t.json").results == rec.results


@pytest.mark.parametrize(
    ("results", "error", "match"),
    [
        ({"x": math.nan}, ValueError, r"results\['x'\] must be a finite number"),
        ({"x": [1.0, math.inf]}, ValueError, r"results\['x'\]\[1\] must be a finite number"),
        ({1: 2.0}, TypeError, "results must have str keys"),
        ({"x": object()}, TypeError, r"results\['x'\] must hold only dicts.*got object"),
        ([1, 2], TypeError, "results must be a dict, got list"),
    ],
)
def test_unstorable_results_fail_naming_the_entry(tmp_path, results, error, match):
    with pytest.raises(error, match=match):
        save_recording(tmp_path / "r.json", results, name="bad")
    assert not (tmp_path / "r.json").exists()


def test_a_tensor_is_refused_with_the_fix(tmp_path):
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"tolist\(\).*got Tensor"):
        save_recording(tmp_path / "r.json", {"x": torch.ones(2)}, name="tensor")


@pytest.mark.parametrize(
    ("name", "error"), [("", ValueError), ("two\nlines", ValueError), (3, TypeError)]
)
def test_name_is_one_line(tmp_path, name, error):
    with pytest.raises(error, match="name must be"):
        save_recording(tmp_path / "r.json", {}, name=name)


def test_settings_must_be_a_dict(tmp_path):
    with pytest.raises(TypeError, match="settings must be a dict or None, got list"):
        save_recording(tmp_path / "r.json", {}, name="s", settings=[1])


def test_load_errors_name_the_file_and_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no recording at .*missing.json.*make record"):
        load_recording(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        load_recording(bad)
    bad.write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="is not a normlab recording"):
        load_recording(bad)
    save_recording(bad, {"a": 1}, name="ok")
    payload = json.loads(bad.read_text())
    del payload["platform"]
    bad.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=r"lacks the fields \['platform'\]"):
        load_recording(bad)


def test_recording_requested_reads_the_flag_strictly(monkeypatch):
    monkeypatch.delenv("NORMLAB_RECORD", raising=False)
    assert recording_requested() is False
    monkeypatch.setenv("NORMLAB_RECORD", "yes")
    assert recording_requested() is True
    monkeypatch.setenv("NORMLAB_RECORD", "maybe")
    with pytest.raises(ValueError, match="NORMLAB_RECORD"):
        recording_requested()


def test_recording_is_a_frozen_value():
    rec = Recording(name="n", results={})
    with pytest.raises(AttributeError):
        rec.name = "m"  # type: ignore[misc]

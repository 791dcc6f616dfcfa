"""The runnable example normlab.examples.ddp_digits: alone, and under torchrun."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from normlab.examples import ddp_digits

# @record enables faulthandler on stderr, which pytest's capture replaces by an object
# without a file descriptor: the warning says only that
pytestmark = pytest.mark.filterwarnings("ignore:Unable to enable fault handler:UserWarning")

ARGS = ["--epochs", "1", "--max-steps", "12", "--device", "cpu"]


def test_runs_as_a_single_process(capsys):
    result = ddp_digits.main(ARGS)
    assert result["world_size"] == 1 and result["steps"] == 12
    assert result["per_device_batch"] == 32
    printed = capsys.readouterr().out
    assert "processes=1 (no process group, cpu)" in printed
    assert re.search(r"test accuracy \d+\.\d%, training wall time \d+\.\d s", printed)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_runs_under_torchrun_with_two_processes_and_matches_one_process():
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", "-m", "normlab.examples.ddp_digits", *ARGS]
    env = {**os.environ, "NORMLAB_QUIET": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "processes=2 (gloo, cpu) per-device batch=16 steps=12" in done.stdout
    accuracy = float(re.search(r"test accuracy (\d+\.\d)%", done.stdout).group(1))
    # synchronized batch norm + DDP on 2 x 16 images is one process on 32 images, up to
    # float32 rounding, which can flip the odd borderline test image
    alone = 100 * ddp_digits.train(epochs=1, max_steps=12)["test_accuracy"]
    assert abs(accuracy - alone) <= 0.6


def test_per_process_norms_and_bad_arguments():
    for norm in ddp_digits.NORMS:
        model = ddp_digits.build_model(norm)
        assert sum(p.numel() for p in model.parameters()) > 0
    with pytest.raises(ValueError, match="norm must be one of"):
        ddp_digits.train("layer")
    with pytest.raises(ValueError, match="max_steps"):
        ddp_digits.train(max_steps=0)
    with pytest.raises(SystemExit):
        ddp_digits.main(["--norm", "nope"])


def test_a_failing_rank_leaves_its_traceback_for_torchrun(tmp_path, monkeypatch):
    """@record: torchrun sets TORCHELASTIC_ERROR_FILE and reads the error back from it."""
    error_file = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    with pytest.raises(ValueError, match="max_steps"):
        ddp_digits.main(["--max-steps", "0", "--device", "cpu"])
    error = json.loads(error_file.read_text())
    assert "max_steps" in error["message"]["message"]
    assert "ValueError" in error["message"]["extraInfo"]["py_callstack"]


def test_data_seed_picks_the_split_and_defaults_to_seed():
    short = dict(epochs=1, max_steps=2)
    default = ddp_digits.train(seed=3, **short)
    explicit = ddp_digits.train(seed=3, data_seed=3, **short)
    other_split = ddp_digits.train(seed=3, data_seed=4, **short)
    assert default["losses"] == explicit["losses"]
    assert default["losses"] != other_split["losses"]
    with pytest.raises(TypeError, match=r"data_seed must be an int, got float"):
        ddp_digits.train(data_seed=1.5, **short)
    with pytest.raises(TypeError, match=r"seed must be an int, got str"):
        ddp_digits.train(seed="0", **short)

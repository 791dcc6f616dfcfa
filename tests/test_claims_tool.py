"""tools/claims.py: a run of some offsets merges into what earlier runs recorded."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("normlab_tools_claims", ROOT / "tools" / "claims.py")
claims = importlib.util.module_from_spec(spec)
sys.modules["normlab_tools_claims"] = claims
spec.loader.exec_module(claims)


def row(tried, held, claim="c", platform="cpu", cell="cell-1"):
    return {"chapter": "10_x", "id": cell, "claim": claim, "kind": "stochastic",
            "offsets_tried": tried, "offsets_held": held, "date": "d", "platform": platform}


def test_new_offsets_merge_and_repeated_ones_are_replaced():
    rows = [row([1, 2, 3], [1, 3]), row([1], [1], cell="cell-2")]
    rows, new = claims.merge_row(rows, row([2, 4, 5], [2, 4]))
    assert new["offsets_tried"] == [1, 2, 3, 4, 5]
    assert new["offsets_held"] == [1, 2, 3, 4]  # 2 held this time; 5 failed
    assert len(rows) == 2 and rows[0]["id"] == "cell-2"


def test_a_restated_claim_or_another_platform_keeps_nothing_of_the_old_row():
    rows, new = claims.merge_row([row([1, 2], [1, 2], claim="old")], row([3], [3]))
    assert (new["offsets_tried"], new["offsets_held"]) == ([3], [3]) and len(rows) == 1
    rows, new = claims.merge_row([row([1, 2], [1, 2], platform="cuda")], row([3], []))
    assert (new["offsets_tried"], new["offsets_held"]) == ([3], []) and len(rows) == 2


def test_offsets_parse_and_zero_is_refused():
    assert claims.parse_offsets("2,4-6") == [2, 4, 5, 6]
    try:
        claims.parse_offsets("0-2")
    except SystemExit as err:
        assert "positive" in str(err)
    else:
        raise AssertionError("offset 0 accepted")


def test_offset_ranges_show_gaps():
    assert claims.offset_ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
    assert claims.offset_ranges([3, 1]) == "1, 3"
    assert claims.offset_ranges(list(range(1, 11))) == "1-10"
    assert claims.offset_ranges([]) == ""

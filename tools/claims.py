"""Re-run the chapters under other seed offsets and record which claims hold: ``make claims``.

Every code cell that asserts something carries, in its metadata, ``normlab.claim`` (the
claim in one line) and ``normlab.kind``: ``exact`` (parity with PyTorch, a formula, a
bound: seeds cannot change it) or ``stochastic`` (the outcome of training, sampling or
timing). This command executes each chapter with ``NORMLAB_SEED=k`` for every offset ``k``
asked for (never the default 0, on which the chapters were written), records for every
claim cell whether it ran without error, and writes ``appendix/claims.json`` (one row per
chapter, claim and platform, so runs on other machines, CUDA included, add rows; a run of
some offsets merges into the row of the same claim, replacing the offsets it repeated;
``appendix/claims/`` keeps one file per chapter, from which claims.json is assembled)
and the page ``appendix/claims.md`` that the book renders.

    python tools/claims.py --offsets 1-10               # every chapter
    python tools/claims.py --offsets 1-10 --chapters 05 09 --jobs 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from normlab.scaffolding.recording import platform_name

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_JSON = ROOT / "appendix" / "claims.json"  # every row, assembled from CLAIMS_DIR
CLAIMS_DIR = ROOT / "appendix" / "claims"  # one file per chapter: branches do not collide
CLAIMS_PAGE = ROOT / "appendix" / "claims.md"


def load_rows() -> list[dict]:
    rows: list[dict] = []
    for path in sorted(CLAIMS_DIR.glob("*.json")):
        rows += json.loads(path.read_text())
    return rows


def save_rows(rows: list[dict]) -> None:
    CLAIMS_DIR.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["chapter"], r["id"], r["platform"]))
    for chapter in sorted({r["chapter"] for r in rows}):
        mine = [r for r in rows if r["chapter"] == chapter]
        (CLAIMS_DIR / f"{chapter}.json").write_text(
            json.dumps(mine, indent=1, ensure_ascii=False) + "\n"
        )
    CLAIMS_JSON.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def claim_cells(nb: dict) -> list[dict]:
    """The cells of a notebook that carry a claim, with their id, text and kind."""
    found = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("normlab", {})
        if cell["cell_type"] == "code" and "claim" in meta:
            found.append({"id": cell["id"], "claim": meta["claim"], "kind": meta.get("kind")})
    return found


def run_once(path: Path, offset: int, timeout: int) -> dict[str, bool]:
    """Execute one chapter under NORMLAB_SEED=offset; return {cell id: ran without error}."""
    code = f"""
import json, sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read({str(path)!r}, as_version=4)
client = NotebookClient(nb, timeout={timeout}, allow_errors=True, kernel_name="python3",
                        resources={{"metadata": {{"path": {str(path.parent)!r}}}}})
client.execute()
json.dump({{c.get("id"): not any(o.get("output_type") == "error" for o in c.get("outputs", []))
           for c in nb.cells if c.cell_type == "code"}}, sys.stdout)
"""
    env = {**os.environ, "NORMLAB_SEED": str(offset), "NORMLAB_QUIET": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(out.stdout)


def merge_row(rows: list[dict], new: dict) -> tuple[list[dict], dict]:
    """Put ``new`` (one claim's result on some offsets) into ``rows``: offsets tried before on
    the same platform for the same claim keep their result unless ``new`` repeated them."""
    same = [r for r in rows if (r["chapter"], r["id"], r["platform"])
            == (new["chapter"], new["id"], new["platform"])]
    rest = [r for r in rows if not any(r is s for s in same)]
    tried, held = set(new["offsets_tried"]), set(new["offsets_held"])
    for r in same:
        if r["claim"] == new["claim"]:
            held |= {k for k in r["offsets_held"] if k not in set(new["offsets_tried"])}
            tried |= set(r["offsets_tried"])
    row = {**new, "offsets_tried": sorted(tried), "offsets_held": sorted(held)}
    return rest + [row], row


def parse_offsets(text: str) -> list[int]:
    offsets: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        offsets += range(int(lo), int(hi or lo) + 1)
    if any(k <= 0 for k in offsets):
        raise SystemExit("--offsets must be positive: offset 0 is the default run itself")
    return offsets


def offset_ranges(offsets: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"``: the offsets tried, gaps shown."""
    runs: list[list[int]] = []
    for k in sorted(set(offsets)):
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def write_page(rows: list[dict]) -> None:
    chapters = sorted(ROOT.glob("chapters/*.ipynb"))
    lines = [
        "# How robust is each claim",
        "",
        "Every asserting cell of the chapters states a claim. *Exact* claims (parity with",
        "PyTorch, a formula, a bound) cannot depend on the seed. *Stochastic* claims are",
        "statements about the outcome of training or sampling over several seeds; this page",
        "records on how many seed offsets (`NORMLAB_SEED=k`, none of them the default 0 on",
        "which the chapters were written) each one held, on which machine. It is written by",
        "`make claims` (`tools/claims.py`); a claim that no run has checked yet says so.",
        "The column *held* counts the offsets on which the claim held, out of those tried.",
        "",
    ]
    for path in chapters:
        nb = json.loads(path.read_text())
        cells = [c for c in claim_cells(nb) if c["kind"] == "stochastic"]
        if not cells:
            continue
        title = next(
            "".join(c["source"]).splitlines()[0].lstrip("# ")
            for c in nb["cells"] if c["cell_type"] == "markdown"
        )
        lines += [f"## {path.stem[:2].lstrip('0')}. {title}", "",
                  "| claim | held | offsets | platform | date |", "|---|---|---|---|---|"]
        for cell in cells:
            runs = [r for r in rows if r["chapter"] == path.stem and r["id"] == cell["id"]]
            claim = cell["claim"].replace("|", "\\|")  # |x| must not split the table's cells
            if not runs:
                lines.append(f"| {claim} | not yet checked | | | |")
            for r in runs:
                tried = r["offsets_tried"]
                span = offset_ranges(tried)
                lines.append(
                    # numbers, code and dates only: language-neutral cells, so that the
                    # Chinese edition translates the claims, not every run's record
                    f"| {claim} | {len(r['offsets_held'])}/{len(tried)} | {span} "
                    f"| `{r['platform']}` | {r['date']} |"
                )
        lines.append("")
    CLAIMS_PAGE.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", default="1-10", help="e.g. 1-10 or 1,3,5 (default 1-10)")
    parser.add_argument("--chapters", nargs="*", help="chapter number prefixes, e.g. 05 09")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--page-only", action="store_true", help="rewrite the page only")
    parser.add_argument(
        "--forget",
        nargs="*",
        default=[],
        metavar="CHAPTER:CELL",
        help="drop the records of these cells (their code changed since they were checked)",
    )
    args = parser.parse_args()
    rows = load_rows()
    # a record whose claim text no longer matches its cell is stale: the claim was restated
    current = {
        (p.stem, c["id"]): c["claim"]
        for p in ROOT.glob("chapters/*.ipynb")
        for c in claim_cells(json.loads(p.read_text()))
    }
    forget = {tuple(item.split(":", 1)) for item in args.forget}
    kept = [
        r for r in rows
        if current.get((r["chapter"], r["id"])) == r["claim"]
        and (r["chapter"], r["id"]) not in forget
    ]
    if len(kept) != len(rows):
        print(f"dropped {len(rows) - len(kept)} stale records (claim restated or cell changed)")
        rows = kept
        save_rows(rows)
    if not args.page_only:
        offsets = parse_offsets(args.offsets)
        paths = sorted(ROOT.glob("chapters/*.ipynb"))
        if args.chapters:
            paths = [p for p in paths if any(p.name.startswith(c) for c in args.chapters)]
        paths = [p for p in paths if claim_cells(json.loads(p.read_text()))]
        jobs = [(p, k) for p in paths for k in offsets]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda job: run_once(job[0], job[1], args.timeout), jobs))
        where, when = platform_name(), dt.date.today().isoformat()
        for path in paths:
            for cell in claim_cells(json.loads(path.read_text())):
                held = [
                    k for (p, k), res in zip(jobs, results, strict=True)
                    if p == path and res.get(cell["id"])
                ]
                rows, row = merge_row(rows, {
                    "chapter": path.stem, "id": cell["id"], "claim": cell["claim"],
                    "kind": cell["kind"], "offsets_tried": offsets, "offsets_held": held,
                    "date": when, "platform": where,
                })
                kept_held, tried = row["offsets_held"], row["offsets_tried"]
                mark = "ok  " if len(held) == len(offsets) else "FAIL"
                tally = f"{len(held)}/{len(offsets)} (in all {len(kept_held)}/{len(tried)})"
                print(f"{mark} {path.stem} {cell['id']}: {tally}  {cell['claim']}")
    save_rows(rows)
    write_page(rows)


if __name__ == "__main__":
    main()

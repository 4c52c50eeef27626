"""benchmarks/regenerate.py (issue 26 item 3): the README's figures table is made from the scripts' JSON files
only, so every number in it can be re-made; every script writes such a file with --json."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):  # noqa: ANN201  (a module loaded from a file)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regen():  # noqa: ANN201
    return load("regenerate")


MACHINE = {"cpu": "Some CPU", "cores": 2, "threads": 2, "gpu": None, "torch": "2.14.1", "transformers": "5.25.0",
           "python": "3.12.3", "commit": "abc1234"}


def test_the_table_holds_each_ratio_with_its_runs_target_verdict_and_machine(regen) -> None:
    figures = {
        "p1_p2": {"ratios": {"P1": 1.0684, "P2": 0.0281}, "runs": 3, "measured": "2026-11-23T10:00:00+00:00",
                  "machine": MACHINE},
        "p7": {"ratios": {"P7": 1.0912}, "runs": 3, "measured": "2026-12-06T09:00:00+00:00",
               "machine": {**MACHINE, "commit": "def5678"}},
        "pa": {"ratios": {"PA": 0.234}, "runs": 5, "measured": "2026-11-29T00:00:00+00:00", "machine": MACHINE},
    }
    lines = regen.table(figures).splitlines()
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in lines if line.startswith("| P")}
    assert list(rows) == ["P1", "P2", "P7", "PA"]  # the scripts' order; absent scripts leave no row
    assert rows["P1"][2:7] == ["**1.068**", "3", "≤ 1.15", "met", "2026-11-23"]
    assert rows["P2"][2:6] == ["**0.028**", "3", "≤ 0.1", "met"]
    assert rows["P7"][2:6] == ["**1.091**", "3", "≤ 1", "**not met**"]
    assert rows["PA"][4:6] == ["—", "reported"]
    # one footnote per distinct machine line, referenced from each row
    assert rows["P1"][-1] == rows["PA"][-1] == "[1] |" and rows["P7"][-1] == "[2] |"
    assert "[1] Some CPU, 2 cores; torch 2.14.1, transformers 5.25.0, Python 3.12.3, 2 threads; commit abc1234" in lines
    assert "[2] Some CPU, 2 cores; torch 2.14.1, transformers 5.25.0, Python 3.12.3, 2 threads; commit def5678" in lines
    assert regen.table({}).startswith("No figures in benchmarks/results/ yet")


def test_rewrite_replaces_only_the_marked_section(regen) -> None:
    readme = f"# Benchmarks\n\nintro\n\n{regen.BEGIN}\nold table\n{regen.END}\n\n## Notes\n\nkept\n"
    out = regen.rewrite(readme, "new table")
    assert out == f"# Benchmarks\n\nintro\n\n{regen.BEGIN}\nnew table\n{regen.END}\n\n## Notes\n\nkept\n"
    assert regen.rewrite(out, "new table") == out
    assert regen.rewrite("# B\n", "t") == f"# B\n\n## Figures\n\n{regen.BEGIN}\nt\n{regen.END}\n"


def test_a_scripts_json_is_what_the_table_reads(regen, tmp_path: Path) -> None:
    common = load("_common")
    path = tmp_path / "p3.json"
    common.write_json(path, {"P3": 0.62234}, 3, seconds={"bucketed": [9.5]})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["ratios"] == {"P3": 0.6223} and data["runs"] == 3 and data["seconds"] == {"bucketed": [9.5]}
    assert data["machine"]["cores"] >= 1 and data["machine"]["torch"]
    row = next(line for line in regen.table({"p3": data}).splitlines() if line.startswith("| P3"))
    assert "| **0.622** | 3 | ≤ 0.67 | met |" in row


def test_every_script_the_table_names_takes_json(regen) -> None:
    for name, (script, _, _) in regen.SCRIPTS.items():
        tree = ast.parse((ROOT / "benchmarks" / script).read_text(encoding="utf-8"))
        options = {node.args[0].value for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
                   and node.args and isinstance(node.args[0], ast.Constant)}
        writes = any(isinstance(node, ast.Call) and getattr(node.func, "id", "") == "write_json"
                     for node in ast.walk(tree))
        assert "--json" in options and writes, f"{script} ({name}) must write its figures with --json"

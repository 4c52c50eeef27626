from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_tasks_yaml_and_the_plugin_packages(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("encoder_bench-*.whl")  # the distribution is encoder-bench
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "benchmark/tasks.yaml" in names
    assert zipfile.ZipFile(wheel).read("benchmark/tasks.yaml") == (ROOT / "tasks.yaml").read_bytes()
    for module in ("benchmark/cli/app.py", "upstreams/text.py", "upstreams/hf_text.py", "downstreams/recipes/vader.py",
                   "downstreams/heads.py", "downstreams/metrics.py"):
        assert module in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "bench = benchmark.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    # `bench new-plugin` writes its package from these templates, read with importlib.resources.
    template = ROOT / "benchmark" / "assets" / "plugin-template"
    shipped = {n for n in names if n.startswith("benchmark/assets/plugin-template/")}
    assert shipped == {f"benchmark/{p.relative_to(ROOT / 'benchmark').as_posix()}" for p in template.rglob("*.tmpl")}
    assert "benchmark/assets/plugin-template/src/{{module}}/encoder.py.tmpl" in shipped

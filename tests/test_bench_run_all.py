"""benchmarks/run_all.py: the combined table shows missed targets and rewrites only its own
section of the docs page."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_all():
    spec = importlib.util.spec_from_file_location(
        "bench_run_all", ROOT / "benchmarks" / "run_all.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ENTRIES = [
    {"name": "fast", "ratio": 250.0, "target": ">= 200", "met": True, "identical_outputs": True},
    {"name": "slow", "ratio": 3.5, "target": "< 1", "met": False, "identical_outputs": None},
]


def test_table_lists_every_entry_with_missed_targets_as_no() -> None:
    lines = _run_all().table(ENTRIES).splitlines()
    assert lines[0].startswith("| benchmark | ratio | target | met | identical outputs")
    assert lines[2].split(" | ")[:5] == ["| fast", "250", ">= 200", "yes", "yes"]
    assert lines[3].split(" | ")[:5] == ["| slow", "3.5", "< 1", "no", "-"]
    assert len(lines) == 4


def test_write_docs_replaces_only_the_generated_section(tmp_path: Path) -> None:
    mod = _run_all()
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# B\n\nprose above\n\n{mod.BEGIN}\nold table\n{mod.END}\n\nprose below\n")
    mod.write_docs("NEW TABLE", doc)
    mod.write_docs("NEWER TABLE", doc)
    text = doc.read_text()
    assert text.startswith("# B\n\nprose above\n\n")
    assert text.rstrip().endswith("prose below")
    assert "old table" not in text and "NEW TABLE" not in text
    assert text.count("NEWER TABLE") == 1 and text.count(mod.BEGIN) == 1


def test_every_benchmark_script_is_run_except_the_helpers() -> None:
    names = {p.name for p in _run_all().scripts()}
    assert {"sim_vs_lava_transformer.py", "popcount_vs_matmul.py", "convert_8_768.py"} <= names
    assert {"attention_state_memory.py"} <= names
    assert not names & {"results.py", "run_all.py"}

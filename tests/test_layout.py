"""The codebase's shape, held by tests: small files and functions, no import cycles, one test file
per module, and the one-way layering that import-linter checks (pyproject's contracts)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "effnet"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
#: Data tables, exempt from the file-size limit: one row per class or per tensor, not logic.
DATA_TABLES = {"weights/imagenet_classes.py"}
#: Modules whose test lives elsewhere, and why.
TESTED_ELSEWHERE = {
    "weights/imagenet_classes.py": "a data table; tests/weights/test_pretrained.py checks it",
    "cli/__main__.py": "`python -m effnet.cli`; tests/cli/test_init.py runs it",
}


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def test_no_file_over_400_lines_except_data_tables():
    long = {
        relative(p): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
        and relative(p) not in DATA_TABLES
    }
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


def test_no_function_over_80_lines():
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{relative(path)}:{node.name}"] = length
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every import ``a -> b`` where ``b`` also reaches ``a``: one entry per cycle found."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                found.append((importer, *back))
    return found


def test_no_import_cycle_between_modules():
    """Type-only imports count too: a loop that one closes still ties the two modules together,
    though the contracts (run-time imports only) do not see it. No cache: grimp keeps one record
    of file times for all its graph options, so a graph cached with other options reads stale."""
    graph = grimp.build_graph("effnet", exclude_type_checking_imports=False, cache_dir=None)
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        graph.add_module(module)
    for importer, imported in (("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")):
        graph.add_import(importer=importer, imported=imported)
    assert ("a", "b", "c", "a") in _cycles(graph)
    assert not any(cycle[0] == "d" for cycle in _cycles(graph))


def test_every_module_has_a_test_file():
    missing = []
    for path in modules():
        rel = relative(path)
        if path.name == "__init__.py" and path.parent != SRC / "cli":
            continue
        if rel in TESTED_ELSEWHERE:
            continue
        stem = "init" if path.name == "__init__.py" else path.stem
        expected = ROOT / "tests" / path.parent.relative_to(SRC) / f"test_{stem.lstrip('_')}.py"
        if not expected.is_file():
            missing.append(f"{rel} -> {expected.relative_to(ROOT)}")
    assert not missing, "modules without a test file:\n" + "\n".join(missing)


def test_layering_contracts_hold():
    """import-linter (a dev dependency, installed beside this interpreter) keeps every contract."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


#: The calls that write a deployable graph; only the deployment layer's one exporter per format
#: (src/effnet/deploy/) may make them in the library, the benchmarks and the configs (tests may,
#: to build the foreign files that effnet must refuse).
EXPORT_CALLS = ("torch.onnx.export(", "convert_model(", "torch.jit.trace(", "to_edge_transform")


def test_one_exporter_per_format_lives_in_the_deployment_layer():
    offenders = []
    for folder in ("src", "benchmarks", "configs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_relative_to(SRC / "deploy") or path == Path(__file__):
                continue
            text = path.read_text()
            for call in EXPORT_CALLS:
                if call in text:
                    offenders.append(f"{path.relative_to(ROOT)}: {call}")
    assert not offenders, "export paths outside effnet.deploy:\n" + "\n".join(offenders)

"""Promises about the repository itself."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash") + 1
    return [line.split("  #")[0].strip() for line in lines[start : start + 2]]


def test_readme_starts_with_the_two_commands():
    demo, tests = _readme_commands()
    assert "mixexp demo" in demo
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command():
    _, tests = _readme_commands()
    ci_lines = [
        line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
    ]
    assert tests in ci_lines


def test_readme_python_blocks_run():
    """The API tour in the README is code that works."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102


def _imports_of(path, package):
    """The mixexp modules a module imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            found.update([target] + [f"{target}.{a.name}" for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "mixexp"
        ):
            found.add(node.module)
    return found


def test_no_import_cycles():
    """Modules import each other along a directed acyclic graph, including
    imports inside functions (a lazy import hides a cycle, it does not
    remove it). Packages' __init__ re-exports are not edges."""
    modules = {}
    for path in (ROOT / "mixexp").rglob("*.py"):
        if path.name != "__init__.py":
            modules[".".join(path.relative_to(ROOT).with_suffix("").parts)] = path
    graph = {
        name: {m for m in _imports_of(path, name.rsplit(".", 1)[0]) if m in modules}
        - {name}
        for name, path in modules.items()
    }
    state = {}

    def visit(name, trail):
        state[name] = "open"
        for dep in sorted(graph[name]):
            assert state.get(dep) != "open", " -> ".join([*trail, dep])
            if dep not in state:
                visit(dep, [*trail, dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_citation_and_changelog_name_the_package_version():
    import yaml  # dask's dependency, in the test extra

    import mixexp

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == mixexp.__version__
    assert citation["license"] == "BSD-3-Clause"
    assert f"— {mixexp.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_run_all_only_keeps_every_section_of_benchmarks_md():
    # run_all --only rewrites BENCHMARKS.md from its parsed sections: parsing
    # and reassembling must give the file back, notes sections included.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "run_all", ROOT / "benchmarks" / "run_all.py"
    )
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    sections, notes = run_all._existing_sections(path)
    keys = [run_all._key(script, extra) for script, extra, _ in run_all.SCRIPTS]
    assert set(sections) <= set(keys)
    body = "\n".join(notes + [sections[key] for key in keys if key in sections])
    assert text[: text.index("\n## ") + 1] + body == text

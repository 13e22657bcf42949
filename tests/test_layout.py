"""The package layout: no module imports another in a circle, and the arrows between packages point
one way (utils/__init__.py). Imports are read with `ast`, at any depth (an import inside a function
counts), so a cycle cannot hide behind a late import."""
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "datasets", "sepconv", "utils")
ENTRY_POINTS = ("train", "eval")
# What each package may import among the project's packages (itself always allowed).
ALLOWED = {
    "sepconv": set(),
    "datasets": set(),
    "models": {"sepconv"},
    "utils.core": {"models", "datasets"},
    "utils.evaluation": {"utils.core", "models", "datasets", "sepconv"},
    "utils.classifier": {"utils.evaluation", "utils.core", "models", "datasets"},
    "utils.training": {"utils.evaluation", "utils.core", "models", "datasets", "sepconv"},
    "utils.tools": {"utils.training", "utils.classifier", "utils.evaluation", "utils.core", "models", "datasets",
                    "sepconv"},
    "utils": set(),
}
SUBPACKAGES = ("utils.core", "utils.evaluation", "utils.classifier", "utils.training", "utils.tools")


def module_files(root):
    """{dotted module name: path} for every project module under `root` (packages and entry points)."""
    files = {}
    for name in ENTRY_POINTS:
        files[name] = root / f"{name}.py"
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imported_modules(name, path, known):
    """The project modules that module `name` (file `path`) imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    found = set()

    def add(target):
        while target and target not in known:  # `import a.b.c` of a name inside a module -> the module
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
    return found


def import_graph(root=ROOT):
    """{module: set of project modules it imports} over the whole project."""
    files = module_files(root)
    return {name: imported_modules(name, path, files) for name, path in files.items()}


def find_cycle(graph):
    """One import cycle as a list [a, b, ..., a], or None (iterative depth-first search)."""
    state = {}
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        state[start] = "open"
        path = [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def package_of(module):
    """The layer a module belongs to: a `utils` sub-package, a top-level package, or an entry point."""
    parts = module.split(".")
    if parts[0] == "utils" and len(parts) > 1 and f"utils.{parts[1]}" in ALLOWED:
        return f"utils.{parts[1]}"
    return parts[0]


def test_no_module_imports_another_in_a_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def layering_violations(graph):
    """The imports `a -> b` whose packages ALLOWED does not let `a`'s package import, sorted."""
    wrong = []
    for module, targets in graph.items():
        source = package_of(module)
        if source in ENTRY_POINTS:
            continue
        for target in targets:
            layer = package_of(target)
            if layer != source and layer not in ALLOWED[source]:
                wrong.append(f"{module} -> {target}")
    return sorted(wrong)


def test_the_arrows_between_packages_point_one_way():
    wrong = layering_violations(import_graph())
    assert not wrong, "imports against the layering: " + ", ".join(wrong)


def test_the_cycle_finder_sees_a_cycle_added_on_purpose(tmp_path):
    """The checker itself: a copy of the project with one late import added that closes a circle
    (core.checkpoint importing the training loop, which imports it) is caught, by both tests."""
    for package in PACKAGES:
        subprocess.run(["cp", "-r", str(ROOT / package), str(tmp_path / package)], check=True)
    for name in ENTRY_POINTS:
        (tmp_path / f"{name}.py").write_text((ROOT / f"{name}.py").read_text())
    checkpoint = tmp_path / "utils" / "core" / "checkpoint.py"
    checkpoint.write_text(checkpoint.read_text() + "\n\ndef _late():\n    from utils.training.loop import training_loop\n"
                          "    return training_loop\n")
    graph = import_graph(tmp_path)
    cycle = find_cycle(graph)
    assert cycle is not None and "utils.core.checkpoint" in cycle and "utils.training.loop" in cycle
    assert layering_violations(graph) == ["utils.core.checkpoint -> utils.training.loop"]
    assert find_cycle(import_graph()) is None and layering_violations(import_graph()) == []


def test_the_cycle_finder_on_small_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b2"}, "b2": {"b"}}) == ["b", "b2", "b"]
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) is None


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_imports_alone_and_says_what_it_is_for(package):
    result = subprocess.run([sys.executable, "-c", f"import {package}, pkgutil, importlib; "
                             f"[importlib.import_module('{package}.' + m.name) for m in pkgutil.iter_modules("
                             f"{package}.__path__)]"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    doc = importlib.import_module(package).__doc__
    assert doc and len(doc.split()) >= 15

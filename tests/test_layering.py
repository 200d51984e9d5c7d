"""The package's shape: imports flow one way, no cycles, no side effects on import (docs/design.md §8)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "scoremd"

# Lower layers first; a module may import from its own layer or below, never above.
LAYERS = [
    {"_errors", "_cache", "_checks", "_progress", "_version", "units", "parallel", "storage", "sde", "geometry"},
    {"systems"},
    {"dynamics"},
    {"data"},
    {"models"},
    {"diffusion"},
    {"training"},
    {"analysis"},
    {"app"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts), parts[-1] == "__init__"


def _imports(path: Path, module: str, is_package: bool) -> set[str]:
    """Absolute names of the scoremd modules ``path`` imports (relative imports resolved)."""
    out = set()
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name.startswith("scoremd"):
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names
                           if (PACKAGE.parent / f"{name}.{a.name}".replace(".", "/")).with_suffix(".py").exists())
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("scoremd"))
    return out


def _layer(module: str):
    parts = module.split(".")
    return LAYER.get(parts[1]) if len(parts) > 1 else None


GRAPH = {module: _imports(path, module, pkg) for path, module, pkg in _modules()}


def test_every_top_level_name_has_a_layer():
    names = {m.split(".")[1] for m in GRAPH if m.count(".") >= 1}
    assert names - {"__main__"} <= set(LAYER), names - set(LAYER)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) is not None))
def test_no_upward_imports(module):
    upward = sorted(i for i in GRAPH[module] if (_layer(i) is None and i != "scoremd._version")
                    or (_layer(i) or 0) > _layer(module))
    assert not upward, f"{module} imports from a higher layer: {upward}"


def test_no_import_cycles():
    edges = {m: {i for i in deps if i in GRAPH and i != m} for m, deps in GRAPH.items()}
    # A package's __init__ re-exporting its own submodules is not a cycle of behaviour.
    for m in edges:
        edges[m] = {i for i in edges[m] if not i.startswith(m + ".")}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in edges[m]:
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(n):], n]))
            if n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])


def test_import_has_no_side_effects():
    """Importing scoremd loads no plotting library and leaves logging and JAX's config alone."""
    code = (
        "import logging, sys, jax\n"
        "before = (logging.getLogger('absl').level, jax.config.jax_enable_x64)\n"
        "import scoremd\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
        "assert (logging.getLogger('absl').level, jax.config.jax_enable_x64) == before\n"
        "assert all(hasattr(scoremd, name) for name in scoremd.__all__)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long

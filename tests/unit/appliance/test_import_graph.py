"""Arrows point down (DESIGN.md §1): no upward import between layers, no service importing another, no cycle.

The modules are parsed (ast), never imported. Every import counts, those inside functions too: an import that
runs late still ties the two modules together. Imports under `if TYPE_CHECKING:` never run and do not count.

Layers, bottom to top (a module may import its own layer or any below it):
  0 core       appliance/ minus the ones named below: config, db, app, policy, routes, pki, endpoints, ...
  1 services   services/<name>/ and appliance/cluster/ (a site's membership is a unit like the services)
  2 testing    appliance/testing/: pytest fixtures that build clouds of the services, so it may import them;
               the core proper never does, and nothing but tests and benchmarks import appliance/testing
  3 wizard     firstboot/
  4 face       appliance/cli.py, appliance/supervisor.py (`egret ...` and `egret up`'s foreground loop)
Tools outside the tree (images/, bench/, tests/) sit above everything: nothing in the tree imports them.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("appliance", "services", "firstboot")
TOOLS = ("images", "bench", "tests")
FACE = {"appliance.cli", "appliance.supervisor"}
LAYER_NAMES = ["core", "services", "testing", "wizard", "face", "tools"]

# Known cycles in other areas, being fixed under the same issue; each entry names the pair and the issue.
ALLOWED_CYCLES: dict[frozenset, str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def tree_modules() -> dict[str, Path]:
    return {module_name(p): p for top in PACKAGES for p in sorted((REPO / top).rglob("*.py"))}


def layer(module: str) -> int:
    if module.split(".")[0] in TOOLS:
        return 5
    if module in FACE:
        return 4
    if module.startswith("firstboot"):
        return 3
    if module == "appliance.testing" or module.startswith("appliance.testing."):
        return 2
    if module.startswith("services") or module == "appliance.cluster" or module.startswith("appliance.cluster."):
        return 1
    return 0


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The most specific module of the tree (or a tool's top package) that `name` names."""
    if name.split(".")[0] in TOOLS:
        return name.split(".")[0]
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement in the file that names a module of the tree."""
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg itself
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in names:
            target = _resolve(name, modules)
            if target and target != module and (target, node.lineno) not in out:
                out.append((target, node.lineno))
    return out


@functools.cache
def graph() -> dict[str, list[tuple[str, int]]]:
    modules = tree_modules()
    return {m: imports(m, p, modules) for m, p in modules.items()}


def _where(module: str) -> str:
    return str(tree_modules()[module].relative_to(REPO)) if module in tree_modules() else module


def upward_arrows(edges) -> list[str]:
    return [f"{_where(m)}:{line}: {m} ({LAYER_NAMES[layer(m)]}) imports {t} ({LAYER_NAMES[layer(t)]})"
            for m, targets in edges.items() for t, line in targets if layer(t) > layer(m)]


def service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def cross_service_arrows(edges) -> list[str]:
    return [f"{_where(m)}:{line}: {m} imports another service's {t}"
            for m, targets in edges.items() for t, line in targets
            if service_of(m) and service_of(t) and service_of(m) != service_of(t)]


def cycles(edges) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    succ = {m: sorted({t for t, _ in targets if t in edges}) for m, targets in edges.items()}
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in succ:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def describe_cycle(component: list[str], edges) -> str:
    inside = set(component)
    arrows = [f"{m} -> {t} ({_where(m)}:{line})" for m in component for t, line in edges[m] if t in inside]
    return "cycle between " + ", ".join(component) + ":\n      " + "\n      ".join(arrows)


def test_no_upward_arrow_between_layers():
    bad = upward_arrows(graph())
    assert not bad, "imports that point up a layer (DESIGN.md §1):\n  " + "\n  ".join(bad)


def test_no_service_imports_another():
    bad = cross_service_arrows(graph())
    assert not bad, "services talk over HTTP (appliance/clients.py), never by import:\n  " + "\n  ".join(bad)


def test_no_import_cycle():
    edges = graph()
    found = [c for c in cycles(edges) if frozenset(c) not in ALLOWED_CYCLES]
    assert not found, "import cycles:\n  " + "\n  ".join(describe_cycle(c, edges) for c in found)


def test_the_checks_see_what_they_should():
    """The checker itself: an upward arrow, a cross-service import and a cycle in a made-up graph are found."""
    edges = {"appliance.config": [("firstboot.wizard", 3)], "firstboot.wizard": [("appliance.config", 1)],
             "services.compute.api": [("services.network.manager", 7)], "services.network.manager": []}
    assert upward_arrows(edges) == ["appliance/config.py:3: appliance.config (core) imports firstboot.wizard (wizard)"]
    assert len(cross_service_arrows(edges)) == 1
    assert cycles(edges) == [["appliance.config", "firstboot.wizard"]]

"""Print a package's import edges and fail when its modules import each other in a circle.

Every `import pkg…` and `from pkg… import …` anywhere in a module counts, those inside
functions too: a lazy import still ties the two layers together, it only moves the failure
from import time to call time. `from pkg.x import y` is an edge to `pkg.x.y` when `y` is a
module, else to `pkg.x`; relative imports are resolved. A package's `__init__` counts as
the module `pkg.sub`, and importing `pkg.sub.mod` is no edge to `pkg.sub` (Python runs
that `__init__` first, but every package would otherwise be a circle with its own modules).
Imports under `if TYPE_CHECKING:` are left out: they never run (type checkers only).

A circle is a strongly connected component of the graph with more than one module
(Tarjan's algorithm); each is reported on stderr with one loop through it, and the exit
status is then 1.

Usage:
    python scripts/import_graph.py            # the `painter` package beside scripts/
    python scripts/import_graph.py --dot > imports.dot && dot -Tsvg imports.dot > imports.svg
    python scripts/import_graph.py path/to/other_package
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from pathlib import Path

DEFAULT_PACKAGE = Path(__file__).resolve().parent.parent / "painter"


def module_files(package: Path) -> dict[str, Path]:
    """Every module of the package folder `package`, by dotted name."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    """`name` if it is a module, else its longest dotted prefix that is one."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:` blocks."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `module` (the file `path`) imports anywhere in it."""
    root = module.split(".")[0]
    # The package a relative import starts from: the module's own for an __init__.
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg.x import y`: pkg.x.y when y is a module, else pkg.x.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name == root or name.startswith(root + "."):
                target = _known_prefix(name, modules)
                if target is not None and target != module:
                    found.add(target)
    return found


def import_graph(package: Path) -> dict[str, list[str]]:
    """`{module: [modules it imports]}` for every module of the package folder `package`."""
    modules = module_files(package)
    return {name: sorted(imports_of(name, path, modules)) for name, path in modules.items()}


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def loop_through(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    """A shortest loop from the component's first module back to it, inside the component."""
    start, members = component[0], set(component)
    came_from = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in graph[node]:
            if target == start:
                path = [node]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target in members and target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise ValueError(f"no loop through {start} in {component}")


def to_dot(graph: dict[str, list[str]], in_cycles: set[str]) -> str:
    """The graph in Graphviz DOT; modules in a circle drawn in red."""
    lines = ["digraph imports {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for node in sorted(graph):
        style = ' [color=red, fontcolor=red]' if node in in_cycles else ""
        lines.append(f'  "{node}"{style};')
    for node, targets in sorted(graph.items()):
        for target in targets:
            style = " [color=red]" if node in in_cycles and target in in_cycles else ""
            lines.append(f'  "{node}" -> "{target}"{style};')
    lines.append("}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", type=Path, default=DEFAULT_PACKAGE,
                        help="the package folder (default: painter/ beside scripts/)")
    parser.add_argument("--dot", action="store_true",
                        help="print Graphviz DOT instead of one `a -> b` line per edge")
    args = parser.parse_args(argv)
    if not (args.package / "__init__.py").is_file():
        parser.error(f"{args.package} is not a package folder (no __init__.py)")

    graph = import_graph(args.package)
    circles = cycles(graph)
    if args.dot:
        print(to_dot(graph, {node for component in circles for node in component}))
    else:
        for node, targets in sorted(graph.items()):
            for target in targets:
                print(f"{node} -> {target}")
    for component in circles:
        print(f"import cycle among {', '.join(component)}: "
              f"{' -> '.join(loop_through(component, graph))}", file=sys.stderr)
    if circles:
        print(f"error: {len(circles)} import cycle(s) in {args.package.name}", file=sys.stderr)
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main())

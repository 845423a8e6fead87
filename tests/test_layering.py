"""The package layering holds: imports point one way, and the search side never loads TensorFlow or NNI.

Two kinds of check. The static one reads every ``import`` statement (module-level and
function-level alike) of ``ga_squad/``, ``tuner/`` and ``trial/`` and compares the package
it names with the order written in ARCHITECTURE.md; it also refuses any cycle between
files. The dynamic one imports a module in a fresh interpreter and lists what got loaded:
the tuner runs in NNI's dispatcher, which must connect to the NNI manager within a fixed
10 s, so importing TensorFlow there (seconds, gigabytes) would make resumes fail on a
loaded machine.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path


import ga_squad.search
import ga_squad.store

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "nni", "h5py")

#: ``ga_squad``'s layers, lowest first: a module may import its own layer and the ones before it.
#: ``ga_squad`` is the package's ``__init__`` (its version); ``__main__`` is the CLI's entry.
LAYERS = ("ga_squad", "files", "search", "store", "reader", "analysis", "launch", "cli")
#: Packages outside the product's layers, and what each may import. ``sim`` (NNI's dispatcher
#: in-process, the local search) serves tests and benchmarks only: nothing in the product imports it.
OUTSIDE = {
    "sim": {"ga_squad", "files", "search", "store", "reader"},
    "tuner": {"ga_squad", "files", "search", "store", "tuner"},  # the dispatcher: no TensorFlow, no reader
    "trial": {"ga_squad", "files", "search", "store", "reader"},
}
SEARCH_MODULES = sorted(f"ga_squad.search.{m.name}" for m in pkgutil.iter_modules(ga_squad.search.__path__))
STORE_MODULES = sorted(f"ga_squad.store.{m.name}" for m in pkgutil.iter_modules(ga_squad.store.__path__))


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name an ``import`` in ``path`` may load, at any depth of the file."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # ``from pkg import module``
    return names


def import_graph(root: Path, tops: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (names resolved to the longest existing module)."""
    files = {module_name(p, root): p for top in tops for p in sorted((root / top).rglob("*.py"))
             if "__pycache__" not in p.parts}
    files.update({module_name(p, root): p for top in tops if (root / f"{top}.py").is_file()
                  for p in [root / f"{top}.py"]})

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    return {m: {r for n in imported_names(p, m) if (r := resolve(n)) is not None and r != m}
            for m, p in files.items()}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "ga_squad":
        return parts[0]
    if len(parts) == 1:
        return "ga_squad"
    return "cli" if parts[1] == "__main__" else parts[1]


def violations(graph: Mapping[str, set[str]]) -> list[str]:
    """Each import against the layer order, as ``importer -> imported (why)``."""
    found = []
    for module, deps in sorted(graph.items()):
        src = layer_of(module)
        for dep in sorted(deps):
            dst = layer_of(dep)
            if src in OUTSIDE:
                allowed = dst in OUTSIDE[src] or dst == src
            elif dst in OUTSIDE:
                allowed = False  # the product never imports sim, tuner or trial
            else:
                allowed = LAYERS.index(dst) <= LAYERS.index(src)
            if not allowed:
                found.append(f"{module} -> {dep} ({src} may not import {dst})")
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one file (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                    found.append(sorted(component))
    return found


def test_every_import_points_down_the_layers() -> None:
    graph = import_graph(REPO, ("ga_squad", "tuner", "trial"))
    assert {"ga_squad.store.engine", "ga_squad.search.graph", "tuner.ga_tuner", "trial.trial"} <= set(graph)
    assert violations(graph) == []


def test_no_two_files_import_each_other_even_indirectly() -> None:
    assert cycles(import_graph(REPO, ("ga_squad", "tuner", "trial"))) == []


def test_the_static_check_sees_a_reversed_import_a_function_level_one_and_a_cycle(tmp_path: Path) -> None:
    """Guard against checks that cannot fail, on a small tree written for it."""
    for rel, text in {
        "ga_squad/__init__.py": "",
        "ga_squad/search/__init__.py": "",
        "ga_squad/search/graph.py": "def f():\n    from ga_squad.reader import model\n",
        "ga_squad/reader/__init__.py": "",
        "ga_squad/reader/model.py": "from . import bundle\n",
        "ga_squad/reader/bundle.py": "import ga_squad.reader.model\nfrom ga_squad.sim import driver\n",
        "ga_squad/sim/__init__.py": "",
        "ga_squad/sim/driver.py": "from ga_squad.cli import run\n",
        "ga_squad/cli/__init__.py": "",
        "ga_squad/cli/run.py": "from ga_squad.search.graph import f\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    graph = import_graph(tmp_path, ("ga_squad",))
    found = violations(graph)
    assert "ga_squad.reader.bundle -> ga_squad.sim.driver (reader may not import sim)" in found
    assert "ga_squad.search.graph -> ga_squad.reader.model (search may not import reader)" in found  # in a function
    assert "ga_squad.sim.driver -> ga_squad.cli.run (sim may not import cli)" in found
    assert not any(v.startswith("ga_squad.cli.run") for v in found)  # down the layers is allowed
    assert any({"ga_squad.reader.bundle", "ga_squad.reader.model"} <= set(c) for c in cycles(graph))


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_search_and_the_store_have_their_modules() -> None:
    assert {"ga_squad.search.graph", "ga_squad.search.evolution", "ga_squad.search.mutations"} <= set(SEARCH_MODULES)
    assert {"ga_squad.store.engine", "ga_squad.store.journal", "ga_squad.store.protocol"} <= set(STORE_MODULES)


def test_the_search_and_the_store_import_neither_tensorflow_nor_nni() -> None:
    """One fresh interpreter for all of them: the check is what the set of modules loads."""
    loaded = _loaded_after_import(SEARCH_MODULES + STORE_MODULES)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == [], f"the search side loads {heavy[:5]}"


def test_the_check_itself_sees_a_heavy_import() -> None:
    """Guard against a check that cannot fail: the reader's model module does load TensorFlow."""
    loaded = _loaded_after_import(["ga_squad.reader.model"])
    assert "tensorflow" in loaded or "keras" in loaded


def test_the_nni_tuner_module_does_not_load_tensorflow() -> None:
    loaded = _loaded_after_import(["tuner.ga_tuner"])
    assert "nni" in loaded
    assert not any(m.split(".")[0] in {"tensorflow", "keras", "h5py"} for m in loaded)

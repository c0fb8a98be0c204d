"""House rules of the package layout, read from the source with ast: nothing is imported, so fast.

    python -m pytest -q tests/test_layout.py

(a) Dependencies run one way: no module of tfcharrnn/ outside tfcharrnn/cli/ imports
    tfcharrnn.cli, at the top or inside a function. The command-line front ends use the library,
    never the reverse.
(b) No import cycle among the tfcharrnn modules, counting the imports inside functions too (a
    lazy import hides a cycle from Python, not from the reader).
(c) The LiteRT runtime stays TF-free: tfcharrnn.litert_sampler and every tfcharrnn module it
    reaches (its imports, theirs, ..., function-level ones included, and the top level of the
    packages they sit in) import no tensorflow, keras and nothing of tfcharrnn.cli.
    (tests/test_tflite.py runs the sampler with TensorFlow blocked; this says which module broke
    the rule.)
(e) The installed package stands alone: nothing in tfcharrnn/ imports the benchmark (benchmarks/,
    beside scripts/, not installed) or loads a file of scripts/ by path.

An import of a package's submodule also runs the package's __init__; (c) counts its top level, (b)
does not (Python finishes a package's __init__ before it matters, and counting it would make every
package that re-exports a submodule a "cycle").
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "tfcharrnn")
HEAVY = ("tensorflow", "keras", "tf_keras")


def module_files(package=PACKAGE):
    """Dotted module name -> path, for every .py file of the package."""
    out = {}
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = module_files()
BENCHMARKS = module_files(os.path.join(ROOT, "benchmarks"))  # held to the size rules (d) too


def imports_of(module, at_import_time=False):
    """[(imported name, line)] of a module, every import statement (in functions too), relative ones resolved.

    ``from a.b import c`` yields a.b.c when that is a module of the package (a.b then only runs its
    __init__, which (b) does not count), else a.b. at_import_time: only the imports that run when
    the module is imported (none inside a function).
    """
    path = MODULES[module]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        if at_import_time and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        todo += ast.iter_child_nodes(node)
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            out += [(name, node.lineno) for name in ([] if len(submodules) == len(node.names) else [base]) + submodules]
    return sorted(out, key=lambda item: item[1])


def internal_imports(module, at_import_time=False):
    """The tfcharrnn modules a module imports (package modules of the names it imports)."""
    found = set()
    for name, _ in imports_of(module, at_import_time):
        while name and name not in MODULES:  # tfcharrnn.x.Class -> tfcharrnn.x
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def parents(module):
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def is_cli(name):
    return name == "tfcharrnn.cli" or name.startswith("tfcharrnn.cli.")


def find_cycles(graph):
    """Each strongly connected group of two or more modules, as one cycle through it (Tarjan + a walk)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_cycle_through(graph, group, min(group)) for group in groups]


def _cycle_through(graph, group, start):
    """The shortest path start -> ... -> start inside one strongly connected group."""
    prev, queue = {}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return " -> ".join(path[::-1] + [start])
            if w in group and w not in prev:
                prev[w] = v
                queue.append(w)
    raise AssertionError(f"{sorted(group)} is not strongly connected")


def test_the_library_does_not_import_the_command_line():
    offenders = [f"{os.path.relpath(MODULES[m], ROOT)}:{line} imports {name}"
                 for m in sorted(MODULES) if not is_cli(m)
                 for name, line in imports_of(m) if is_cli(name)]
    assert "tfcharrnn.cli" in MODULES and "tfcharrnn.cli.flags" in MODULES  # the walk sees the package
    assert not offenders, "the library must not import tfcharrnn.cli (it imports the library):\n" + "\n".join(offenders)


def test_no_import_cycles():
    graph = {m: internal_imports(m) for m in MODULES}
    assert graph["tfcharrnn.cli.sample"] >= {"tfcharrnn.cli.flags", "tfcharrnn.litert_sampler"}  # function-level ones count
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (function-level imports included):\n" + "\n".join(cycles)


def test_the_litert_runtime_imports_no_tensorflow_and_no_cli():
    """A package reached only because a submodule of it is imported runs its top level: its imports
    there count, not those inside its functions (tfcharrnn.__getattr__ loads tfcharrnn.api only when a
    user touches tfcharrnn.train). Every other module reached counts whole, functions included."""
    reached, whole, todo = {}, set(), [("tfcharrnn.litert_sampler", True)]
    while todo:
        m, entire = todo.pop()
        if m in whole or (m in reached and not entire):
            continue
        reached[m] = entire
        if entire:
            whole.add(m)
        todo += [(i, True) for i in sorted(internal_imports(m, at_import_time=not entire))] + [(p, False) for p in sorted(parents(m))]
    assert {"tfcharrnn", "tfcharrnn.vocab", "tfcharrnn.rng", "tfcharrnn.errors"} <= set(reached)
    bad = [f"{os.path.relpath(MODULES[m], ROOT)}:{line} imports {name}"
           for m in sorted(reached) for name, line in imports_of(m, at_import_time=not reached[m])
           if name.split(".")[0] in HEAVY or is_cli(name)]
    assert not bad, f"tfcharrnn.litert_sampler reaches {sorted(reached)}; the TF-free runtime must not import:\n" + "\n".join(bad)


LOADERS_BY_PATH = ("spec_from_file_location", "SourceFileLoader", "run_path", "load_source")


def test_the_library_does_not_reach_for_the_benchmark_or_the_scripts():
    assert os.path.isdir(os.path.join(ROOT, "benchmarks")) and not any(m.startswith("tfcharrnn.bench") for m in MODULES)
    offenders = [f"{os.path.relpath(MODULES[m], ROOT)}:{line} imports {name}"
                 for m in sorted(MODULES) for name, line in imports_of(m) if name.split(".")[0] == "benchmarks"]
    for m in sorted(MODULES):
        for node in ast.walk(_tree(m)):
            called = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            if called in LOADERS_BY_PATH:
                offenders.append(f"{os.path.relpath(MODULES[m], ROOT)}:{node.lineno} loads a file by path ({called})")
            elif isinstance(node, ast.Constant) and node.value == "scripts":  # os.path.join(repo, "scripts", ...)
                offenders.append(f"{os.path.relpath(MODULES[m], ROOT)}:{node.lineno} reaches into scripts/")
    assert not offenders, "the installed package must not need the checkout's benchmarks/ or scripts/:\n" + "\n".join(offenders)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c", "x"}, "c": {"a", "d"}, "d": set(), "x": {"y"}, "y": {"b"}}
    assert find_cycles(graph) == ["a -> b -> c -> a"]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", ["tfcharrnn.cli.flags", "tfcharrnn.sample_settings", "tfcharrnn.litert_sampler"])
def test_modules_that_must_stay_light_import_no_tensorflow_at_the_top(module):
    with open(MODULES[module], encoding="utf-8") as f:
        tree = ast.parse(f.read())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names] + [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in HEAVY], names


# ---------------------------------------------------------------------------------------------
# (d) Small units: a newcomer reads a module in one sitting (the package and benchmarks/ alike).

MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _tree(module):
    path = MODULES.get(module) or BENCHMARKS[module]
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def test_no_module_is_over_450_lines():
    assert "benchmarks.command" in BENCHMARKS
    long = {m: sum(1 for _ in open(p, encoding="utf-8")) for m, p in {**MODULES, **BENCHMARKS}.items()}
    assert not {m: n for m, n in long.items() if n > MAX_MODULE_LINES}


def test_no_function_is_over_80_lines():
    long = [f"{m}.{node.name}: {node.end_lineno - node.lineno + 1} lines" for m in {**MODULES, **BENCHMARKS} for node in ast.walk(_tree(m))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long


def test_the_serving_module_is_a_module_level_class():
    """tfcharrnn.serving.ServingModule, not a class made inside a function (as _make_serving_module once did)."""
    for module in ("tfcharrnn.serving", "tfcharrnn.export"):
        inner = [node.name for fn in ast.walk(_tree(module)) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for node in ast.walk(fn) if isinstance(node, ast.ClassDef)]
        assert not inner, (module, inner)
    assert any(isinstance(n, ast.ClassDef) and n.name == "ServingModule" for n in _tree("tfcharrnn.serving").body)


def test_no_module_level_switch_is_read_by_the_recurrence():
    """The recurrence's choices are values passed in: fused / recurrence / train_path / model have no module
    variable that a function assigns with `global` (BATCH_SPLITS, MATMUL_DTYPE, LOOP_JIT were)."""
    for module in ("tfcharrnn.fused", "tfcharrnn.recurrence", "tfcharrnn.training.train_path", "tfcharrnn.model", "tfcharrnn.training.steps"):
        assert not [n for n in ast.walk(_tree(module)) if isinstance(n, ast.Global)], module


def test_the_readme_is_a_users_guide_of_at_most_350_lines():
    """Measurement history lives in docs/performance.md, every flag in docs/flags.md."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert sum(1 for _ in f) <= 350

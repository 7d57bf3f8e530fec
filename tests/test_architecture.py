"""The layout's rules, read from the source (every import, including those inside functions):

- the runtime (hpi.runtime) is model-agnostic: it imports nothing from the tasks or the layers built on them;
- no import cycles anywhere, between modules or between hpi's packages;
- nothing imports the CLI (it sits on top of everything; `python -m hpi` aside);
- a private name (`_x`) is imported only inside its own package: what another package uses is public.
"""
import ast
from pathlib import Path

import hpi

ROOT = Path(hpi.__file__).parent
# What sits on top of the runtime: tasks, their shared pipeline and I/O, the tools built on them.
ABOVE_RUNTIME = ("hpi.tasks", "hpi.pipelines", "hpi.bench", "hpi.serving", "hpi.batchjob", "hpi.cli", "hpi.inputs", "hpi.results",
                 "hpi.visualize", "hpi.converters", "hpi.streaming")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path):
    """Every hpi module `path` imports, as absolute names (the module or package named in each statement)."""
    found = set()
    for node, target in hpi_imports(path):
        if isinstance(node, ast.Import):
            found.add(target)
            continue
        modules = {f"{target}.{alias.name}" for alias in node.names if is_module(f"{target}.{alias.name}")}
        found.update(modules)
        if node.module or len(modules) < len(node.names):  # `from . import m` imports m, not the package
            found.add(target)
    return found


def imported_names(path: Path):
    """(module, name) for each `from module import name` of hpi in `path` (module absolute)."""
    for node, target in hpi_imports(path):
        if isinstance(node, ast.ImportFrom):
            yield from ((target, alias.name) for alias in node.names)


def hpi_imports(path: Path):
    """(statement, the absolute hpi module it names) for each import of hpi in `path`, inside functions too."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node, alias.name) for alias in node.names if alias.name.startswith("hpi"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("hpi"):
                yield node, target


def is_module(name: str) -> bool:
    path = ROOT.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def runtime_modules():
    return {module_name(p): p for p in (ROOT / "runtime").rglob("*.py")}


def test_runtime_imports_no_task():
    offences = [f"{name} imports {target}" for name, path in runtime_modules().items()
                for target in imports_of(path) if target.startswith(ABOVE_RUNTIME)]
    assert not offences, "the runtime must not know the tasks: " + "; ".join(sorted(offences))


def test_nothing_imports_the_cli():
    def in_cli(name):
        return name == "hpi.cli" or name.startswith("hpi.cli.")

    offences = [module_name(path) for path in ROOT.rglob("*.py") if path.name != "__main__.py"
                and not in_cli(module_name(path)) and any(in_cli(t) for t in imports_of(path))]
    assert not offences, f"{offences} import hpi.cli: move what they share below it"


def test_serving_and_batch_stand_side_by_side():
    """hpi serve and hpi batch are two front ends of the same tasks: neither imports the other."""
    offences = [f"{name} imports {target}" for name, path in all_modules().items()
                for target in imports_of(path)
                if (name.startswith("hpi.serving") and target.startswith("hpi.batchjob"))
                or (name.startswith("hpi.batchjob") and target.startswith("hpi.serving"))]
    assert not offences, "; ".join(sorted(offences))


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    """The rule above would pass vacuously if the parser missed lazy imports: check it on a known case."""
    assert "hpi.runtime.quantization" in imports_of(ROOT / "runtime" / "tuning.py")
    assert "hpi.tasks.predictor" in imports_of(ROOT / "tasks" / "text_recognition" / "predictor.py")


def all_modules():
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def test_runtime_has_no_import_cycles():
    assert not cycles_of(module_graph(runtime_modules()))


def test_no_module_imports_itself_back():
    """Between any two modules of hpi, imports go one way (lazy imports inside functions included)."""
    cycles = cycles_of(module_graph(all_modules()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_packages_import_one_another_one_way():
    """hpi's packages and top modules (runtime, tasks, pipelines, serving, batchjob, bench, cli, inputs, ...) form
    layers: no package imports one that imports it back."""
    def layer(name):
        return ".".join(name.split(".")[:2])

    graph = {}
    for name, targets in module_graph(all_modules()).items():
        graph.setdefault(layer(name), set()).update(layer(t) for t in targets if layer(t) != layer(name))
    graph.pop("hpi", None)  # the package's __init__ re-exports the API: it imports, nothing imports it back
    graph = {name: targets - {"hpi"} for name, targets in graph.items()}
    cycles = cycles_of(graph)
    assert not cycles, "package cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    assert cycles_of({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_private_name_check_sees_private_imports():
    def a_private_import():  # never called: the statement the parser must see
        from hpi.runtime.config import _load_yaml  # noqa: F401

    assert ("hpi.runtime.config", "_load_yaml") in set(imported_names(Path(__file__)))
    assert ("hpi", "_pdf_render_process") in set(imported_names(ROOT / "pdf_render.py"))


def test_no_private_name_is_imported_from_another_package():
    """`from hpi.x import _y` only inside hpi.x's own package (a private module `_m` of a package: anywhere
    inside that package)."""
    offences = []
    for name, path in all_modules().items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for target, imported in imported_names(path):
            parts = target.split(".")
            for index, part in enumerate(parts):
                owner = ".".join(parts[:index])
                if part.startswith("_") and not part.startswith("__") and not (
                        package == owner or package.startswith(owner + ".")):
                    offences.append(f"{name} imports the private module {target}")
            home = target if is_module(target) and (ROOT.parent / target.replace(".", "/")).is_dir() \
                else target.rsplit(".", 1)[0]
            if imported.startswith("_") and not imported.startswith("__") and not is_module(f"{target}.{imported}") \
                    and package != home:
                offences.append(f"{name} imports {target}.{imported}")
    assert not offences, "private names used across packages (make them public): " + "; ".join(sorted(offences))


def module_graph(modules):
    """{module: the modules among `modules` it imports} (a package import counts as an import of its __init__)."""
    return {name: {t for t in imports_of(path) if t in modules} - {name} for name, path in modules.items()}


def cycles_of(graph):
    """One cycle (a list of nodes, the first repeated last) per back edge a depth-first walk finds."""
    cycles = []

    def visit(node, stack, done):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        done.add(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, stack + [node], done)

    done = set()
    for name in sorted(graph):
        visit(name, [], done)
    return cycles

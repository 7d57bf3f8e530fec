"""The layout's rules, read from the source (every import, including those inside functions):

- the runtime (hpi.runtime) is model-agnostic: it imports nothing from the tasks or the layers built on them;
- the runtime's modules import one another without cycles;
- nothing imports the CLI (it sits on top of everything; `python -m hpi` aside).
"""
import ast
from pathlib import Path

import hpi

ROOT = Path(hpi.__file__).parent
# What sits on top of the runtime: tasks, their shared pipeline and I/O, the tools built on them.
ABOVE_RUNTIME = ("hpi.tasks", "hpi.pipelines", "hpi.bench", "hpi.serving", "hpi.batchjob", "hpi.cli", "hpi.inputs", "hpi.results",
                 "hpi.visualize", "hpi.converters")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path):
    """Every hpi module `path` imports, as absolute names (the module or package named in each statement)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("hpi"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("hpi"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names
                             if (ROOT.parent / f"{target}.{alias.name}".replace(".", "/")).with_suffix(".py").exists())
    return found


def runtime_modules():
    return {module_name(p): p for p in (ROOT / "runtime").rglob("*.py")}


def test_runtime_imports_no_task():
    offences = [f"{name} imports {target}" for name, path in runtime_modules().items()
                for target in imports_of(path) if target.startswith(ABOVE_RUNTIME)]
    assert not offences, "the runtime must not know the tasks: " + "; ".join(sorted(offences))


def test_nothing_imports_the_cli():
    offences = [module_name(path) for path in ROOT.rglob("*.py") if path.name != "__main__.py"
                and module_name(path) != "hpi.cli" and "hpi.cli" in imports_of(path)]
    assert not offences, f"{offences} import hpi.cli: move what they share below it"


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    """The rule above would pass vacuously if the parser missed lazy imports: check it on a known case."""
    assert "hpi.runtime.quantization" in imports_of(ROOT / "runtime" / "tuning.py")
    assert "hpi.tasks.pipeline" in imports_of(ROOT / "tasks" / "text_recognition" / "predictor.py")


def test_runtime_has_no_import_cycles():
    modules = runtime_modules()

    def owner(target):  # a package import counts as an import of its __init__
        return target if target in modules else None

    graph = {name: {owner(t) for t in imports_of(path)} - {None, name} for name, path in modules.items()}
    cycles = []

    def visit(node, stack, done):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        done.add(node)
        for nxt in graph[node]:
            visit(nxt, stack + [node], done)

    done = set()
    for name in sorted(graph):
        visit(name, [], done)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)

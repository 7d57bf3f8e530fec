"""Every registered backend declares its facts on its class, and no code outside hpi/runtime/backends/ keeps its own
list of backend names (tuning, quantization, the bench and the import hints read the registry instead).

So adding a backend is its module, one line in the registry, its pip extra and its docs: these tests say what a
new backend lacks, and where code grew a list the registry already knows."""
import ast
import fnmatch
import importlib
from pathlib import Path

import pytest

import hpi
from hpi.runtime.backends import BACKENDS, NORMAL_MODE_BACKEND
from hpi.runtime.backends.facts import PRECISIONS

ROOT = Path(hpi.__file__).parent
REPO = ROOT.parent


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_declares_its_facts(name):
    backend = BACKENDS[name]
    assert backend.name == name
    assert backend.model_format in ("onnx", "paddle")
    assert isinstance(backend.framework, str) and backend.framework
    assert isinstance(backend.extra, str) and isinstance(backend.package, str)
    assert backend.package in backend.distributions
    assert backend.device_kinds and set(backend.device_kinds) <= {"cpu", "gpu"}
    assert "fp32" in backend.precisions and set(backend.precisions) <= set(PRECISIONS)
    # the precision option takes exactly the precisions it declares
    assert set(backend.option_checks["precision"][0].allowed) == set(backend.precisions)
    for kind, offered in backend.tuned_precisions.items():
        assert kind in backend.device_kinds
        for precision, options in offered.items():
            assert precision in backend.precisions and precision != "fp32"
            checked = backend.check_options(options)
            assert backend.precision_of(checked) == precision, (kind, precision)
    assert (backend.int8_artifact is not None) == ("int8" in backend.precisions)
    assert isinstance(backend.versions(), dict)


@pytest.mark.parametrize("name", sorted(n for n, b in BACKENDS.items() if b.int8_artifact is not None))
def test_an_int8_backend_names_its_file_and_a_quantizer_that_makes_it(name):
    artifact = BACKENDS[name].int8_artifact
    assert artifact.file.startswith("inference.int8.") and artifact.kind
    maker = BACKENDS[artifact.made_by]
    assert maker.int8_artifact == artifact  # the quantizer's backend runs the same file
    module, class_name = maker.quantizer.split(":")
    quantizer = getattr(importlib.import_module(module), class_name)  # imports no framework until it is made
    assert quantizer.name == artifact.made_by and quantizer.distributions


def test_every_backend_extra_is_a_pip_extra_that_installs_its_package():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["optional-dependencies"]
    for backend in BACKENDS.values():
        requirements = extras.get(backend.extra, [])
        assert any(r.split(">")[0].split("=")[0].split("[")[0].strip() == backend.package for r in requirements), \
            f"{backend.name}: extra {backend.extra!r} does not install {backend.package!r}"


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_a_missing_framework_names_the_backends_extra(name):
    from hpi.errors import MissingDependencyError

    backend = BACKENDS[name]
    hint = f'pip install ".[{backend.extra}]" in an hpi checkout (or: pip install {backend.package})'
    with pytest.raises(MissingDependencyError) as error:  # a module that is nowhere: nothing is imported
        backend.import_framework(f"hpi_test_no_such_part_of_{name}")
    assert hint in str(error.value)


def test_normal_mode_is_a_registered_backend():
    assert BACKENDS[NORMAL_MODE_BACKEND].model_format == "paddle"


# -- no list of backend names outside the registry --------------------------------------------------------------
# Names that are another API's vocabulary and happen to spell backends: (path pattern, source text, why)
ALLOWED = [
    ("hpi/runtime/engine_args.py", "*",
     "PaddleOCR/PaddleX's `engine` names (paddle, onnxruntime, openvino, tensorrt, hpi, ...) mapped onto hpi: "
     "an outside API's vocabulary, not the registry"),
]
COLLECTIONS = (ast.Tuple, ast.List, ast.Set, ast.Dict)
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _names_in(node, names):
    """The backend names spelt as string literals anywhere in `node` (f-strings, that is messages, aside)."""
    found, stack = set(), [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.JoinedStr):
            continue
        if isinstance(current, ast.Constant) and current.value in names:
            found.add(current.value)
        stack.extend(ast.iter_child_nodes(current))
    return found


def hard_coded_backend_lists(source: str, names) -> list:
    """(line, source text) of each place in `source` that lists backend names itself: a tuple, list, set or dict
    literal holding two or more of them (also inside calls within it: `[Candidate("a"), Candidate("b")]`), or
    one function comparing the same value with two or more of them (an if-chain, `if x == "a" ... elif x == "b"`,
    or `x in ("a", ...)` beside `x == "b"`). A single name (normal mode's "paddle") and messages are not lists."""
    tree = ast.parse(source)
    found = []

    def collections(node):
        if isinstance(node, COLLECTIONS) and len(_names_in(node, names)) >= 2:
            found.append((node.lineno, ast.get_source_segment(source, node)))
            return
        for child in ast.iter_child_nodes(node):
            collections(child)

    def chains(scope):
        compared = {}  # the value compared -> the names it is compared with, within this scope
        stack = list(ast.iter_child_nodes(scope))
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                chains(node)
                continue
            if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], COMPARISONS):
                left, right = node.left, node.comparators[0]
                for subject, other in ((left, right), (right, left)):
                    spelt = _names_in(other, names) if isinstance(other, (ast.Constant, *COLLECTIONS)) else set()
                    if spelt and not _names_in(subject, names):
                        entry = compared.setdefault(ast.dump(subject), [node.lineno, ast.unparse(subject), set()])
                        entry[2] |= spelt
            stack.extend(ast.iter_child_nodes(node))
        found.extend((line, f"{subject} compared with {sorted(spelt)}")
                     for line, subject, spelt in compared.values() if len(spelt) >= 2)

    collections(tree)
    chains(tree)
    return found


def _allowed(path: str, text: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) and (snippet == "*" or snippet in text)
               for pattern, snippet, _ in ALLOWED)


def test_no_module_outside_the_backends_lists_backend_names():
    names = set(BACKENDS)
    offences = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith("hpi/runtime/backends/"):
            continue
        for line, text in hard_coded_backend_lists(path.read_text("utf-8"), names):
            if not _allowed(relative, text):
                offences.append(f"{relative}:{line}: {text}")
    assert not offences, ("backend names listed outside the registry; read the backends' facts through "
                          "hpi.runtime.backends.BACKENDS instead:\n" + "\n".join(offences))


@pytest.mark.parametrize("code", [
    # the shapes this check was written against (each was in hpi before the facts moved onto the classes)
    'INT8_FILES = {"openvino": "inference.int8.xml", "onnxruntime": "inference.int8.onnx"}',
    'QUANTIZERS = ("openvino", "onnxruntime")',
    'def f(backend):\n    if backend == "openvino":\n        return 1\n    if backend == "onnxruntime":\n        return 2',
    'def f(backend):\n    if backend in ("paddle", None):\n        return 1\n    elif backend == "tensorrt":\n        return 2',
    'x = [(Candidate("tensorrt", {}), None), (Candidate("paddle", {}), None)]',
    'versions = library_versions(("openvino", "onnxruntime", "onnxruntime-gpu"))',
])
def test_the_check_finds_a_list_of_backend_names(code):
    assert hard_coded_backend_lists(code, set(BACKENDS))


@pytest.mark.parametrize("code", [
    'if backend == "paddle":\n    pass',  # one backend's own case
    'raise ConfigError(f"use \'onnxruntime\' or \'openvino\' instead of {name!r}")',  # a message
    'def f(module):\n    if module.split(".")[0] == "paddle":\n        pass\n    if module == "onnxruntime":\n        pass',
])
def test_the_check_leaves_single_names_and_messages(code):
    assert not hard_coded_backend_lists(code, set(BACKENDS))

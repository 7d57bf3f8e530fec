"""`import hpi` loads no framework; every module imports with the core dependencies alone."""
import pkgutil
import subprocess
import sys

import hpi

FRAMEWORKS = ("paddle", "onnxruntime", "openvino", "tensorrt", "paddle2onnx", "pypdfium2", "nncf", "onnx")


def all_modules():
    return sorted(m.name for m in pkgutil.walk_packages(hpi.__path__, "hpi.") if not m.name.endswith("__main__"))


def test_importing_every_module_loads_no_framework():
    code = ("import sys, importlib\n"
            f"for name in {all_modules()!r}: importlib.import_module(name)\n"
            f"print([m for m in {FRAMEWORKS!r} if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_missing_framework_names_the_extra():
    import pytest

    from hpi.errors import HPIError, MissingDependencyError
    from hpi.runtime.backends import get_backend_class

    hint = r'Install it with: pip install "\.\[gpu\]" in an hpi checkout \(or: pip install tensorrt\)'
    with pytest.raises(MissingDependencyError, match=hint) as error:  # a backend imports its framework so
        get_backend_class("tensorrt").import_framework("tensorrt.__no_such_module__")
    assert isinstance(error.value, HPIError)


def test_every_package_ships_in_the_wheel():
    """pyproject lists packages by hand: a new subpackage missing there imports here but not when installed."""
    import tomllib  # Python 3.11+: the test environment; the package itself supports 3.9
    from pathlib import Path

    root = Path(hpi.__file__).parent
    listed = set(tomllib.loads((root.parent / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(root.parent).parts) for path in root.rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"

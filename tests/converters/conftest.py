import shutil
import subprocess
import sys

import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_PADDLE

from hpi._deps import is_installed

if not (HAS_PADDLE and HAS_ONNXRUNTIME and is_installed("paddle2onnx")):
    pytest.skip("conversion needs the 'paddle' and 'cpu' extras", allow_module_level=True)

LEGACY_MODELS = {"rec": "PP-OCRv4_mobile_rec", "det": "ch_PP-OCRv4_det_infer", "cls": "ch_ppocr_mobile_v2_cls_infer"}


def make_pir_copy(legacy_dir, target_dir):
    """A PIR (inference.json) copy of a legacy model, made by Paddle itself in a separate process."""
    code = ("import sys; from pathlib import Path; from hpi.runtime.converters.pir import legacy_to_pir\n"
            "legacy_to_pir(Path(sys.argv[1]) / 'inference.pdmodel', Path(sys.argv[1]) / 'inference.pdiparams', "
            "Path(sys.argv[2]) / 'inference')")
    subprocess.run([sys.executable, "-c", code, str(legacy_dir), str(target_dir)], check=True, capture_output=True)


@pytest.fixture(scope="session")
def paddle_models(models_root, tmp_path_factory):
    """{(kind, format): dir} for the three real models in legacy and PIR form, as writable copies."""
    root = tmp_path_factory.mktemp("paddle_models")
    dirs = {}
    for kind, name in LEGACY_MODELS.items():
        legacy = root / f"{name}_legacy"
        shutil.copytree(models_root / name, legacy)
        pir = root / f"{name}_pir"
        pir.mkdir()
        make_pir_copy(legacy, pir)
        if (legacy / "inference.yml").exists():
            shutil.copyfile(legacy / "inference.yml", pir / "inference.yml")
        dirs[(kind, "legacy")], dirs[(kind, "pir")] = legacy, pir
    return dirs

import json
import shutil

import pytest

from hpi.runtime.catalog import catalog
from hpi.cli import main
from hpi.errors import ConfigError
from hpi.runtime.sources import model_sources


def test_catalog_covers_the_seed_and_newer_models():
    entries = catalog()
    assert len(entries) == 34
    seeded = {name for name, e in entries.items() if e.seed}
    assert len(seeded) == 20 and "PP-OCRv4_server_rec_doc" in seeded
    assert entries["PP-OCRv4_mobile_rec"].seed == {"accuracy": 83.28, "gpu_ms": [4.82, 1.2], "cpu_ms": [16.74, 4.64],
                                                   "size_mb": 11.0}
    assert {"PP-OCRv6_tiny_rec", "PP-OCRv6_medium_rec", "th_PP-OCRv5_mobile_rec"} <= set(entries)
    for entry in entries.values():
        assert entry.languages and entry.input_shape == [3, 48, 320]
        assert set(entry.backends) == {"cpu_x64", "cpu_arm64", "gpu_cuda"}
        assert entry.backends_source in ("measured", "paddlex", "family")


def test_sources_follow_paddlex_order_and_variables(monkeypatch):
    for var in ("HPI_MODEL_MIRROR", "HPI_MODEL_SOURCES", "PADDLE_PDX_MODEL_SOURCE", "PADDLE_PDX_HUGGING_FACE_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    assert [s.name for s in model_sources("m")] == ["huggingface", "aistudio", "modelscope", "bos"]
    monkeypatch.setenv("PADDLE_PDX_MODEL_SOURCE", "BOS")
    sources = model_sources("PP-OCRv5_server_rec")
    assert [s.name for s in sources] == ["bos", "huggingface", "aistudio", "modelscope"]
    assert sources[0].archive_url.endswith("/paddle3.0.0/PP-OCRv5_server_rec_infer.tar")
    monkeypatch.setenv("HPI_MODEL_MIRROR", "http://mirror.local/models/")
    monkeypatch.setenv("PADDLE_PDX_HUGGING_FACE_ENDPOINT", "https://hf.example")
    sources = model_sources("x")
    assert sources[0].archive_url == "http://mirror.local/models/x_infer.tar"
    hf = next(s for s in sources if s.name == "huggingface")
    assert hf.file_url("inference.yml") == "https://hf.example/PaddlePaddle/x/resolve/main/inference.yml"
    monkeypatch.setenv("HPI_MODEL_SOURCES", "mirror,bos")
    assert [s.name for s in model_sources("x")] == ["mirror", "bos"]
    monkeypatch.setenv("HPI_MODEL_SOURCES", "mirror,ftp")
    with pytest.raises(ConfigError, match=r"unknown or unset source\(s\) \['ftp'\]"):
        model_sources("x")


def test_models_command_table_and_json(tmp_path, monkeypatch, v4_paddle_dir, capsys):
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path))
    shutil.copytree(v4_paddle_dir, tmp_path / "official_models" / "PP-OCRv4_mobile_rec")
    assert main(["models"]) == 0
    table = capsys.readouterr().out.splitlines()
    row = next(line for line in table if line.startswith("PP-OCRv4_mobile_rec "))
    assert "83.28" in row and row.rstrip().endswith("yes")
    assert main(["models", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["PP-OCRv4_mobile_rec"]["cached"] and not listed["PP-OCRv5_server_rec"]["cached"]

"""TensorRT backend: its plain logic on a CPU (profiles, cache key, engine cache, batch splitting, the layers FP16
keeps in FP32), its control flow against fake tensorrt/cuda modules (a check of our own code, not of TensorRT), and
the real engine on a GPU."""
import collections
import ctypes
import enum
import json
import multiprocessing
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from capabilities import CUDA_IS_AVAILABLE, HAS_ONNXRUNTIME

from hpi._deps import is_installed
from hpi._fs import sha256_files
from hpi.runtime.backends._trt_logic import (LayerInfo, check_within_profile, engine_cache_key, engine_key_fields,
                                             fp32_layers, load_or_build_engine, split_batch)
from hpi.runtime.backends.tensorrt import TensorRTBackend
from hpi.runtime.device import Device
from hpi.errors import BackendError, ConfigError
from hpi.runtime.model_dir import check_dynamic_shapes, load_model_dir

GPU = Device("gpu", 0)
# PaddleX's profile for text recognition: one 48-pixel line, 160 to 3200 pixels wide, up to 8 per batch.
REC_DEFAULT_PROFILE = ((1, 3, 48, 160), (1, 3, 48, 320), (8, 3, 48, 3200))
PROFILE = {"x": REC_DEFAULT_PROFILE}
KEY_FIELDS = dict(onnx_sha256="ab" * 32, tensorrt_version="10.3.0", compute_capability="9.0",
                  gpu_name="NVIDIA H100", precision="fp32", profiles=PROFILE)


# -- cache key ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field, other", [
    ("onnx_sha256", "cd" * 32), ("tensorrt_version", "8.6.1"), ("compute_capability", "8.9"),
    ("gpu_name", "NVIDIA L4"), ("precision", "fp16"),
    ("profiles", {"x": ((1, 3, 48, 160), (1, 3, 48, 320), (16, 3, 48, 3200))}),
    ("allow_fp16", True), ("fp32_layers", [12]), ("quantization_key", "ef" * 32),
])
def test_cache_key_changes_with_each_component(field, other):
    base = engine_cache_key(engine_key_fields(**KEY_FIELDS))
    assert engine_cache_key(engine_key_fields(**KEY_FIELDS)) == base
    assert engine_cache_key(engine_key_fields(**{**KEY_FIELDS, field: other})) != base


def test_int8_key_changes_with_the_quantization_and_the_pinned_layers():
    int8 = {**KEY_FIELDS, "precision": "int8", "quantization_key": "k1" * 32, "onnx_sha256": "1a" * 32}
    base = engine_cache_key(engine_key_fields(**int8))
    requantized = engine_cache_key(engine_key_fields(**{**int8, "quantization_key": "k2" * 32}))
    other_file = engine_cache_key(engine_key_fields(**{**int8, "onnx_sha256": "2b" * 32}))
    assert len({base, requantized, other_file}) == 3
    half = {**KEY_FIELDS, "precision": "fp16", "allow_fp16": True}
    keys = {engine_cache_key(engine_key_fields(**half, fp32_layers=pinned)) for pinned in ([], [3, 9], [3, 10])}
    assert len(keys) == 3
    assert engine_key_fields(**half, fp32_layers=[9, 3])["fp32_layers"] == [3, 9]  # order-free


def test_key_fields_survive_a_json_round_trip():
    fields = engine_key_fields(**KEY_FIELDS)
    assert json.loads(json.dumps(fields)) == fields  # the sidecar comparison relies on it


# -- layers kept in FP32 under FP16 ----------------------------------------------------------------------------
# What the TensorRT ONNX parser makes of each ONNX op: (layer type, operation). GlobalAveragePool becomes a REDUCE
# AVG too (a mean that is no LayerNorm); initializers become CONSTANT layers.
TRT_LAYER_OF_ONNX = {
    "Softmax": ("SOFTMAX", ""), "LayerNormalization": ("NORMALIZATION", ""), "ReduceMean": ("REDUCE", "AVG"),
    "GlobalAveragePool": ("REDUCE", "AVG"), "Pow": ("ELEMENTWISE", "POW"), "Add": ("ELEMENTWISE", "SUM"),
    "Sub": ("ELEMENTWISE", "SUB"), "Mul": ("ELEMENTWISE", "PROD"), "Div": ("ELEMENTWISE", "DIV"),
    "Sqrt": ("UNARY", "SQRT"), "Transpose": ("SHUFFLE", ""), "Reshape": ("SHUFFLE", ""), "Squeeze": ("SHUFFLE", ""),
    "Unsqueeze": ("SHUFFLE", ""), "Constant": ("CONSTANT", ""), "Conv": ("CONVOLUTION", ""),
    "MatMul": ("MATRIX_MULTIPLY", ""), "Clip": ("ACTIVATION", ""), "Sigmoid": ("ACTIVATION", ""),
    "Relu": ("ACTIVATION", ""), "HardSigmoid": ("ACTIVATION", ""), "HardSwish": ("ACTIVATION", ""),
    "BatchNormalization": ("SCALE", ""), "AveragePool": ("POOLING", ""), "Concat": ("CONCATENATION", ""),
}


def _layers_of_onnx(path):
    """A real model's graph as the layer descriptions the backend makes of the parsed network, with the ONNX node
    behind each layer (None for the constants)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    nodes = [None] * len(graph.initializer) + list(graph.node)
    producer = {init.name: index for index, init in enumerate(graph.initializer)}
    layers = [LayerInfo(index, "CONSTANT") for index in range(len(graph.initializer))]
    for index in range(len(graph.initializer), len(nodes)):
        node = nodes[index]
        kind, op = TRT_LAYER_OF_ONNX.get(node.op_type, (node.op_type.upper(), ""))
        layers.append(LayerInfo(index, kind, op, tuple(producer.get(name, -1) for name in node.input if name)))
        producer.update((name, index) for name in node.output)
    return layers, nodes


@pytest.mark.parametrize("model", ["PP-OCRv4_mobile_rec_onnx", "PP-OCRv5_mobile_rec_onnx"])
def test_fp16_pins_softmax_and_each_decomposed_layer_norm_of_a_real_model(models_root, model):
    layers, nodes = _layers_of_onnx(models_root / model / "inference.onnx")
    pinned = fp32_layers(layers)
    pinned_ops = collections.Counter(nodes[index].op_type for index in pinned)
    # 3 Softmax (two attention blocks, the classifier) and 5 LayerNorms of 7 layers each: 2 means, sub, pow, add
    # of epsilon, sqrt, div
    assert pinned_ops == {"Softmax": 3, "ReduceMean": 10, "Sub": 5, "Pow": 5, "Add": 5, "Sqrt": 5, "Div": 5}
    by_output = {name: index for index, node in enumerate(nodes) if node for name in node.output}
    for index in pinned:
        node = nodes[index]
        if node.op_type == "Div":  # ends a LayerNorm: x - mean over sqrt(...)
            assert [nodes[by_output[name]].op_type for name in node.input] == ["Sub", "Sqrt"]
        if node.op_type == "Add":  # the epsilon, added to a variance
            assert nodes[by_output[node.input[0]]].op_type == "ReduceMean"
    # what stays free: the LayerNorm's scale (the Mul after each Div) and the global average pools (REDUCE AVG too)
    consumers = collections.defaultdict(list)
    for index, node in enumerate(nodes):
        for name in (node.input if node else ()):
            consumers[name].append(index)
    scales = {consumer for index in pinned if nodes[index].op_type == "Div"
              for consumer in consumers[nodes[index].output[0]]}
    assert len(scales) == 5 and {nodes[index].op_type for index in scales} == {"Mul"} and not scales & set(pinned)
    pools = [index for index, node in enumerate(nodes) if node and node.op_type == "GlobalAveragePool"]
    assert pools and not set(pools) & set(pinned)


# The decomposed LayerNorm of PP-OCR, then its scale and a Softmax: (kind, op, input layers); -1 the network input.
SMALL_NET = [
    ("SHUFFLE", "", (-1,)),                # 0: transpose x
    ("REDUCE", "AVG", (0,)),               # 1: mean
    ("ELEMENTWISE", "SUB", (0, 1)),        # 2: x - mean
    ("CONSTANT", "", ()),                  # 3: 2.0
    ("ELEMENTWISE", "POW", (2, 3)),        # 4: squared
    ("REDUCE", "AVG", (4,)),               # 5: variance
    ("CONSTANT", "", ()),                  # 6: epsilon
    ("ELEMENTWISE", "SUM", (5, 6)),        # 7: + epsilon
    ("UNARY", "SQRT", (7,)),               # 8: standard deviation
    ("ELEMENTWISE", "DIV", (2, 8)),        # 9: normalized
    ("CONSTANT", "", ()),                  # 10: gamma
    ("ELEMENTWISE", "PROD", (9, 10)),      # 11: scaled
    ("SOFTMAX", "", (11,)),                # 12
]
SMALL_NET_PINNED = [1, 2, 4, 5, 7, 8, 9, 12]


def _infos(spec):
    return [LayerInfo(index, kind, op, inputs) for index, (kind, op, inputs) in enumerate(spec)]


def test_small_layer_norm_and_softmax_are_pinned_scale_and_constants_are_not():
    assert fp32_layers(_infos(SMALL_NET)) == SMALL_NET_PINNED
    assert fp32_layers([LayerInfo(0, "NORMALIZATION", "", (-1,)), LayerInfo(1, "ELEMENTWISE", "DIV", (0, -1))]) == [0]
    assert fp32_layers([]) == []


def test_layer_norm_variants_the_parser_or_exporter_make():
    # a reshape the parser puts between the square and its mean is pinned too: FP16 there would overflow as well
    reshaped = SMALL_NET[:5] + [("SHUFFLE", "", (4,)), ("REDUCE", "AVG", (5,))] + [
        (kind, op, tuple(i + 1 if i >= 5 else i for i in inputs)) for kind, op, inputs in SMALL_NET[6:]]
    assert fp32_layers(_infos(reshaped)) == [1, 2, 4, 5, 6, 8, 9, 10, 13]
    # the square as (x - mean) * (x - mean)
    product = list(SMALL_NET)
    product[4] = ("ELEMENTWISE", "PROD", (2, 2))
    assert fp32_layers(_infos(product)) == SMALL_NET_PINNED


@pytest.mark.parametrize("change", [
    {1: ("REDUCE", "AVG", (-1,))},           # the mean of another tensor than the one it is subtracted from
    {1: ("REDUCE", "MAX", (0,))},            # not a mean
    {4: ("ELEMENTWISE", "POW", (3, 2))},     # 2 ** (x - mean): not a square of the difference
    {4: ("ELEMENTWISE", "PROD", (2, 0))},    # (x - mean) * x
    {8: ("UNARY", "EXP", (7,))},             # not a standard deviation
    {9: ("ELEMENTWISE", "DIV", (8, 2))},     # upside down
])
def test_near_misses_are_not_layer_norms(change):
    spec = [change.get(index, layer) for index, layer in enumerate(SMALL_NET)]
    assert fp32_layers(_infos(spec)) == [12]  # the Softmax only


# -- batches and out-of-profile inputs ------------------------------------------------------------------------
@pytest.mark.parametrize("batch, max_batch, chunks", [
    (1, 8, [(0, 1)]), (8, 8, [(0, 8)]), (10, 8, [(0, 8), (8, 10)]), (17, 8, [(0, 8), (8, 16), (16, 17)]),
])
def test_split_batch(batch, max_batch, chunks):
    assert split_batch(batch, max_batch) == chunks


def test_within_profile_passes_and_allows_large_batches():
    check_within_profile((1, 3, 48, 160), REC_DEFAULT_PROFILE)
    check_within_profile((50, 3, 48, 3200), REC_DEFAULT_PROFILE)  # split, not refused


@pytest.mark.parametrize("shape, message", [
    ((1, 3, 48, 3232), r"width 3232 is outside \[160, 3200\]"),
    ((1, 3, 48, 100), r"width 100 is outside \[160, 3200\]"),
    ((1, 3, 32, 320), r"height 32 is outside \[48, 48\]"),
    ((0, 3, 48, 320), "batch 0 is below the minimum 1"),
    ((3, 48, 320), "3-D|is 4-D"),
])
def test_out_of_profile_says_how_to_widen(shape, message):
    with pytest.raises(BackendError, match=message) as error:
        check_within_profile(shape, REC_DEFAULT_PROFILE)
    if len(shape) == 4:
        assert "dynamic_shapes=" in str(error.value) and "never padded" in str(error.value)


# -- engine cache ---------------------------------------------------------------------------------------------
def _cache(tmp_path, fields, builds, data=b"engine-1"):
    return load_or_build_engine(tmp_path, fields, lambda: builds.append(1) or data, lambda raw: raw)


def test_engine_is_built_once_then_loaded(tmp_path):
    fields, builds = engine_key_fields(**KEY_FIELDS), []
    engine, path, source = _cache(tmp_path, fields, builds)
    assert (engine, source, len(builds)) == (b"engine-1", "built", 1)
    assert json.loads(path.with_suffix(".json").read_text()) == fields
    assert _cache(tmp_path, fields, builds)[2] == "cache" and len(builds) == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_stale_or_unreadable_engine_is_rebuilt(tmp_path):
    fields, builds = engine_key_fields(**KEY_FIELDS), []
    _, path, _ = _cache(tmp_path, fields, builds)
    path.with_suffix(".json").write_text(json.dumps({**fields, "tensorrt_version": "8.6.1"}))
    engine, _, source = _cache(tmp_path, fields, builds, b"engine-2")
    assert (engine, source) == (b"engine-2", "built")
    reject_engine_2 = {b"engine-3": b"engine-3"}.get  # as TensorRT returns None for an engine it cannot read
    engine, _, source = load_or_build_engine(tmp_path, fields, lambda: b"engine-3", reject_engine_2)
    assert (engine, source) == (b"engine-3", "built")
    assert _cache(tmp_path, {**fields, "precision": "fp16"}, builds)[1] != path  # another key, another file


def _build_in_child(cache_dir, counter):
    def slow_build():
        with open(counter, "a") as file:
            file.write("built\n")
        time.sleep(0.5)
        return b"engine"
    load_or_build_engine(cache_dir, engine_key_fields(**KEY_FIELDS), slow_build, lambda raw: raw)


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_two_processes_build_once(tmp_path):
    context = multiprocessing.get_context("fork")
    counter = tmp_path / "builds.txt"
    workers = [context.Process(target=_build_in_child, args=(tmp_path / "cache", counter)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert counter.read_text().count("built") == 1


# -- options --------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_model_dir(tmp_path):
    def make(hpi_section=None, model_name="PP-OCRv4_mobile_rec"):
        root = tmp_path / "model"
        root.mkdir(exist_ok=True)
        config = {"Global": {"model_name": model_name}, **({"Hpi": hpi_section} if hpi_section else {})}
        (root / "inference.yml").write_text(json.dumps(config))
        (root / "inference.onnx").write_bytes(b"not really onnx")
        return load_model_dir(root)
    return make


@pytest.mark.parametrize("options, message", [
    ({"precision": "int4"}, r"'fp32', 'fp16' \(Softmax and LayerNorm stay FP32\) or 'int8'"),
    ({"int8_allow_fp16": True}, "int8_allow_fp16 applies to precision 'int8' only, not 'fp32'"),
    ({"precision": "int8", "int8_allow_fp16": "yes"}, "true or false"),
    ({"workspace_mb": 0}, "invalid value 0 for tensorrt.workspace_mb"),
    ({"dynamic_shapes": {"x": [[1, 3, 48, 160]]}}, "three shapes"),
    ({"threads": 2}, "unknown option 'threads' for backend 'tensorrt'"),
])
def test_bad_options_are_refused(fake_model_dir, options, message):
    with pytest.raises(ConfigError, match=message):
        TensorRTBackend(fake_model_dir(), GPU, options)


def test_profiles_come_from_the_model_dir_inference_yml_then_the_catalog(fake_model_dir):
    backend = TensorRTBackend(fake_model_dir(), GPU)  # a recognition model, no Hpi section: the catalog's profile
    assert check_dynamic_shapes(backend.options["dynamic_shapes"]) == PROFILE
    assert backend.options["cache_dir"].endswith(".cache/tensorrt")
    assert (backend.options["precision"], backend.options["workspace_mb"]) == ("fp32", 1024)
    yml_profile = {"x": [[1, 3, 48, 100], [2, 3, 48, 320], [4, 3, 48, 640]]}
    model_dir = fake_model_dir({"backend_configs": {"tensorrt": {"dynamic_shapes": yml_profile}}})
    assert TensorRTBackend(model_dir, GPU).options["dynamic_shapes"] == yml_profile
    given = {"x": [[1, 3, 48, 200], [1, 3, 48, 200], [2, 3, 48, 200]]}  # the option beats both
    assert TensorRTBackend(model_dir, GPU, {"dynamic_shapes": given}).options["dynamic_shapes"] == given
    detection = TensorRTBackend(fake_model_dir(model_name="PP-OCRv5_mobile_det"), GPU)
    assert detection.options["dynamic_shapes"] == {"x": [[1, 3, 32, 32], [1, 3, 736, 736], [1, 3, 4000, 4000]]}


def test_no_profile_anywhere_fails_saying_which_key_to_add(fake_model_dir):
    """A model hpi does not know, exported without PaddleX's Hpi section: a BackendError (the selector then tries
    the next candidate) that names the inference.yml key, not a silent recognition profile."""
    with pytest.raises(BackendError, match=r"the tensorrt backend needs the range of input shapes .* add "
                                           r"Hpi.backend_configs.tensorrt.dynamic_shapes to its inference.yml"):
        TensorRTBackend(fake_model_dir(model_name="my_own_model"), GPU)


def test_cpu_is_refused(fake_model_dir):
    with pytest.raises(ConfigError, match="does not run on cpu"):
        TensorRTBackend(fake_model_dir(), Device("cpu"))


# -- control flow against fakes (checks our code paths only; TensorRT itself is checked on a GPU below) -------
def _host_view(address, shape):
    count = int(np.prod(shape))
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(address)).reshape(shape)


class FakeContext:
    """A "model" whose output[n, w] is the sum over channels and height of the input."""

    def __init__(self):
        self.shape, self.addresses = None, {}

    def set_input_shape(self, name, shape):
        self.shape = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        return self.shape if name == "x" else (self.shape[0], self.shape[3])

    def set_tensor_address(self, name, address):
        self.addresses[name] = address

    def execute_async_v3(self, stream):
        summed = _host_view(self.addresses["x"], self.shape).sum(axis=(1, 2))
        _host_view(self.addresses["out"], summed.shape)[...] = summed
        return True


class FakeLayer:
    """A parsed network's layer as the binding hands it out: no `op` until it is given its own class."""

    def __init__(self, index, kind, op, inputs):
        self.type, self._op, self.precision, self.output_types = SimpleNamespace(name=kind), op, None, {}
        self.num_inputs, self.num_outputs, self._inputs, self._index = len(inputs), 1, inputs, index

    def get_input(self, k):
        return None if self._inputs[k] is None else SimpleNamespace(name="x" if self._inputs[k] < 0
                                                                     else f"t{self._inputs[k]}")

    def get_output(self, k):
        return SimpleNamespace(name=f"t{self._index}")

    def set_output_type(self, k, dtype):
        self.output_types[k] = dtype


class FakeOpLayer(FakeLayer):
    op = property(lambda self: SimpleNamespace(name=self._op))


def _fake_network(spec):
    layers = [FakeLayer(index, kind, op, inputs) for index, (kind, op, inputs) in enumerate(spec)]
    return SimpleNamespace(num_inputs=1, get_input=lambda i: SimpleNamespace(name="x"), num_layers=len(layers),
                           get_layer=layers.__getitem__, layers=layers)


def _fake_tensorrt(flags, spec=()):
    network = _fake_network(spec)
    engine = SimpleNamespace(num_io_tensors=2, get_tensor_name=["x", "out"].__getitem__,
                             get_tensor_mode=lambda name: "in" if name == "x" else "out",
                             get_tensor_dtype=lambda name: "float", create_execution_context=FakeContext)
    config = SimpleNamespace(set_memory_pool_limit=lambda pool, size: None, set_flag=flags.append,
                             clear_flag=lambda flag: flags.append("-" + flag), add_optimization_profile=lambda p: None)
    builder = SimpleNamespace(
        create_network=lambda flags: network,
        create_builder_config=lambda: config,
        create_optimization_profile=lambda: SimpleNamespace(set_shape=lambda *shapes: None),
        build_serialized_network=lambda network, config: flags.append("build") or b"fake-engine")
    logger_class = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    return SimpleNamespace(
        __version__="10.0.1", Logger=logger_class, Builder=lambda logger: builder,
        OnnxParser=lambda network, logger: SimpleNamespace(parse_from_file=lambda path: True),
        Runtime=lambda logger: SimpleNamespace(deserialize_cuda_engine={b"fake-engine": engine}.get),
        TensorIOMode=SimpleNamespace(INPUT="in"), MemoryPoolType=SimpleNamespace(WORKSPACE="ws"),
        BuilderFlag=SimpleNamespace(FP16="fp16", TF32="tf32", INT8="int8", OBEY_PRECISION_CONSTRAINTS="obey"),
        nptype=lambda dtype: np.float32, float32="float32", network=network,
        IElementWiseLayer=FakeOpLayer, IUnaryLayer=FakeOpLayer, IReduceLayer=FakeOpLayer)


class FakeCudart:
    class cudaError_t(enum.IntEnum):
        cudaSuccess = 0

    class cudaMemcpyKind(enum.IntEnum):
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    def __init__(self):
        self.allocations, self.streams, self.streams_made = {}, set(), 0

    def _ok(self, *values):
        return (self.cudaError_t.cudaSuccess, *values)

    def cudaSetDevice(self, index):
        return self._ok()

    def cudaGetDeviceProperties(self, index):
        return self._ok(SimpleNamespace(name=b"Fake GPU\x00", major=9, minor=0))

    def cudaMalloc(self, size):
        memory = np.zeros(size, np.uint8)
        self.allocations[memory.ctypes.data] = memory
        return self._ok(memory.ctypes.data)

    def cudaFree(self, address):
        del self.allocations[address]
        return self._ok()

    def cudaStreamCreate(self):
        self.streams_made += 1
        self.streams.add(6 + self.streams_made)  # 7, 8, ...: each stream its own id
        return self._ok(6 + self.streams_made)

    def cudaStreamDestroy(self, stream):
        self.streams.discard(stream)
        return self._ok()

    def cudaMemcpyAsync(self, destination, source, size, kind, stream):
        ctypes.memmove(destination, source, size)
        return self._ok()

    def cudaStreamSynchronize(self, stream):
        return self._ok()


@pytest.fixture
def fakes(monkeypatch):
    flags, cudart = [], FakeCudart()
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(flags, SMALL_NET))
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    return flags, cudart


def test_backend_flow_with_fakes(fakes, fake_model_dir, tmp_path):
    flags, cudart = fakes
    options = {"cache_dir": str(tmp_path / "engines")}
    batch = np.random.default_rng(0).uniform(-1, 1, (10, 3, 48, 200)).astype(np.float32)  # 10 > max batch 8
    with TensorRTBackend(fake_model_dir(), GPU, options) as backend:
        assert backend.config["engine_source"] == "built" and flags == ["-tf32", "build"]
        assert backend.config["profiles"] == {"x": [list(shape) for shape in REC_DEFAULT_PROFILE]}
        np.testing.assert_allclose(backend.infer(batch), batch.sum(axis=(1, 2)), rtol=1e-6)
        with pytest.raises(BackendError, match="dynamic_shapes"):
            backend.infer(np.zeros((1, 3, 48, 4000), np.float32))
    assert cudart.allocations == {} and cudart.streams == set()
    with TensorRTBackend(fake_model_dir(), GPU, options) as again:
        assert again.config["engine_source"] == "cache" and flags.count("build") == 1
    with TensorRTBackend(fake_model_dir(), GPU, {**options, "precision": "fp16"}) as half:
        assert half.config["engine_source"] == "built" and flags[-3:] == ["fp16", "obey", "build"]
        assert half.config["fp32_layers"] == len(SMALL_NET_PINNED)
    network = sys.modules["tensorrt"].network
    assert [layer._index for layer in network.layers if layer.precision == "float32"] == SMALL_NET_PINNED
    assert all(network.layers[index].output_types == {0: "float32"} for index in SMALL_NET_PINNED)
    assert not any(layer.output_types for layer in network.layers if layer._index not in SMALL_NET_PINNED)
    with TensorRTBackend(fake_model_dir(), GPU, {**options, "precision": "fp16"}) as again:
        assert again.config["engine_source"] == "cache"
        sidecar = json.loads(Path(again.config["engine_path"]).with_suffix(".json").read_text())
    assert (sidecar["fp32_layers"], sidecar["allow_fp16"]) == (SMALL_NET_PINNED, True)


# -- int8 -----------------------------------------------------------------------------------------------------
def _write_gated(model_dir, key, content=b"qdq onnx", passed=True):
    """An INT8 model and the record `hpi quantize` writes beside it."""
    path = model_dir.path / "inference.int8.onnx"
    path.write_bytes(content)
    record = {"key": key, "gate": {"passed": passed}, "fp32_sha256": sha256_files(model_dir.onnx),
              "files": {path.name: sha256_files(path)}}
    (model_dir.path / "inference.int8.onnx.hpi.json").write_text(json.dumps(record))
    return path


def test_int8_refuses_without_a_gated_model(fake_model_dir):
    model_dir = fake_model_dir()
    backend = TensorRTBackend(model_dir, GPU, {"precision": "int8"})  # constructing it does not look yet
    with pytest.raises(BackendError, match="hpi quantize"):
        backend.model_path()
    _write_gated(model_dir, "k1", passed=False)
    with pytest.raises(BackendError, match="gate.*hpi quantize"):
        backend.model_path()
    assert _write_gated(model_dir, "k1") == backend.model_path()
    assert TensorRTBackend(model_dir, GPU).model_path() == model_dir.onnx  # fp32 runs the FP32 model


def test_int8_load_without_a_gated_model_says_to_quantize(fakes, fake_model_dir, tmp_path):
    flags, _ = fakes
    with pytest.raises(BackendError, match="hpi quantize"):
        TensorRTBackend(fake_model_dir(), GPU, {"precision": "int8", "cache_dir": str(tmp_path)}).load()
    assert "build" not in flags


def test_int8_builds_from_the_gated_model_and_a_new_quantization_rebuilds(fakes, fake_model_dir, tmp_path):
    flags, _ = fakes
    model_dir = fake_model_dir()
    int8_path = _write_gated(model_dir, "k1")
    options = {"precision": "int8", "cache_dir": str(tmp_path / "engines")}

    def load(extra=None):
        with TensorRTBackend(model_dir, GPU, {**options, **(extra or {})}) as backend:
            sidecar = json.loads(Path(backend.config["engine_path"]).with_suffix(".json").read_text())
            return backend.config["engine_source"], sidecar

    source, sidecar = load()
    assert source == "built" and flags == ["int8", "-tf32", "build"]  # no calibrator, float layers true FP32
    assert (sidecar["quantization_key"], sidecar["onnx_sha256"]) == ("k1", sha256_files(int8_path))
    assert (sidecar["allow_fp16"], sidecar["fp32_layers"]) == (False, [])
    assert load()[0] == "cache"
    _write_gated(model_dir, "k2", b"qdq onnx, quantized again")
    source, sidecar = load()
    assert source == "built" and sidecar["quantization_key"] == "k2" and flags.count("build") == 2
    source, sidecar = load({"int8_allow_fp16": True})
    assert source == "built" and flags[-4:] == ["int8", "fp16", "obey", "build"]
    assert sidecar["fp32_layers"] == SMALL_NET_PINNED


class YieldingContext(FakeContext):
    """Lets other threads run between its input's copy and its execution, as a GPU would: a context whose input
    buffer another call shares computes on that call's input."""

    def __init__(self):
        super().__init__()
        self.streams_seen = set()

    def execute_async_v3(self, stream):
        self.streams_seen.add(stream)
        time.sleep(0.001)
        return super().execute_async_v3(stream)


def test_threads_sharing_one_backend_get_their_own_outputs(fakes, fake_model_dir, tmp_path, monkeypatch):
    _, cudart = fakes
    monkeypatch.setattr("hpi.runtime.backends.base.max_contexts", lambda: 4)  # whatever this machine's CPUs
    contexts = []
    engine = sys.modules["tensorrt"].Runtime(None).deserialize_cuda_engine(b"fake-engine")
    engine.create_execution_context = lambda: contexts.append(YieldingContext()) or contexts[-1]
    rng = np.random.default_rng(0)
    work = [[rng.uniform(-1, 1, (1 + (thread + call) % 4, 3, 48, 160 + 8 * thread)).astype(np.float32)
             for call in range(5)] for thread in range(8)]
    backend = TensorRTBackend(fake_model_dir(), GPU, {"cache_dir": str(tmp_path / "engines")}).load()
    start = threading.Barrier(len(work))

    def run(batches):
        start.wait()
        return [backend.infer(batch) for _ in range(6) for batch in batches]

    with ThreadPoolExecutor(len(work)) as pool:
        outputs = list(pool.map(run, work, timeout=60))
    for batches, got in zip(work, outputs):
        for index, output in enumerate(got):
            np.testing.assert_allclose(output, batches[index % len(batches)].sum(axis=(1, 2)), rtol=1e-5)
    assert 1 < len(contexts) <= 4
    assert all(len(context.streams_seen) == 1 for context in contexts)  # each context on its own stream
    assert len(set.union(*(context.streams_seen for context in contexts))) == len(contexts)
    assert len(cudart.streams) == cudart.streams_made == len(contexts)
    backend.close()
    assert cudart.allocations == {} and cudart.streams == set()


# -- the real engine --------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not CUDA_IS_AVAILABLE, reason="needs a CUDA GPU")
@pytest.mark.skipif(not (is_installed("tensorrt") and is_installed("cuda")), reason="needs tensorrt and cuda-python")
@pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnxruntime is the reference")
def test_engine_matches_onnxruntime_and_is_cached(v4_onnx_dir, tmp_path):
    from hpi.runtime.backends.onnxruntime import ONNXRuntimeBackend

    model_dir = load_model_dir(v4_onnx_dir)
    batch = np.random.default_rng(0).uniform(-1, 1, (10, 3, 48, 320)).astype(np.float32)  # split into 8 + 2
    with ONNXRuntimeBackend(model_dir, Device("cpu")) as reference_backend:
        reference = reference_backend.infer(batch)
    options = {"cache_dir": str(tmp_path)}
    with TensorRTBackend(model_dir, GPU, options) as backend:
        assert backend.config["engine_source"] == "built"
        output = backend.infer(batch)
        with pytest.raises(BackendError, match="dynamic_shapes"):
            backend.infer(np.zeros((1, 3, 48, 3232), np.float32))
    assert output.shape == reference.shape == (10, 40, 6625)
    assert np.abs(output - reference).max() < 1e-3
    with TensorRTBackend(model_dir, GPU, options) as cached:
        assert cached.config["engine_source"] == "cache"
        np.testing.assert_array_equal(cached.infer(batch), output)

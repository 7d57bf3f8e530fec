"""What this machine can run, decided in one place (tests skip on these, never on ad-hoc checks)."""
from hpi._deps import is_installed
from hpi.runtime.device import cpu_capabilities, cuda_device_count

HAS_PADDLE = is_installed("paddle")
HAS_OPENVINO = is_installed("openvino")
HAS_ONNXRUNTIME = is_installed("onnxruntime")
HAS_PDFIUM = is_installed("pypdfium2")
CUDA_IS_AVAILABLE = cuda_device_count() > 0
CPU_HAS_BF16 = cpu_capabilities().bf16  # the flag avx512_bf16 or amx_bf16 in /proc/cpuinfo
CPU_HAS_AMX_INT8 = cpu_capabilities().amx_int8  # the flag amx_int8: OpenVINO runs INT8 at static shapes there

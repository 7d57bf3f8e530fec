"""Conversion worker: `python -m hpi.runtime.converters._worker REQUEST.json REPORT.json PARENT_PID`.

Runs in its own process, in a scratch folder inside the model dir: paddle2onnx imports paddle, writes temp
files into the current folder and may try to pip-install tools; none of that reaches the caller's process.

It ends when its parent dies, by any signal, SIGKILL included: on Linux the kernel kills it (PR_SET_PDEATHSIG;
PARENT_PID catches a parent that died before that was set), and everywhere it exits when its stdin, a pipe the
parent holds open, reaches end of file.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

PARENT_GONE_EXIT = 3


def die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:  # prctl(PR_SET_PDEATHSIG, SIGKILL): the parent is the thread that started us, which waits for us
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the stdin watch below still works
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(PARENT_GONE_EXIT)

    def exit_at_eof() -> None:  # os.read, not sys.stdin: a daemon thread in a buffered read blocks the exit
        try:
            while os.read(0, 1 << 12):
                pass
        finally:
            os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=exit_at_eof, name="hpi-parent-watch", daemon=True).start()


def run(request: dict) -> dict:
    import onnx
    import paddle2onnx

    from .onnx_repair import fix_concat_ranks, remove_unused
    from .pir import legacy_to_pir, patch_pir_json

    started = time.perf_counter()
    workdir = Path(request["workdir"])
    program, params = Path(request["program"]), Path(request["params"])
    if program.suffix == ".pdmodel":
        pir_program = legacy_to_pir(program, params, workdir / "pir" / "inference")
        pir_params = pir_program.with_suffix(".pdiparams")
    else:  # patch a copy: the user's files are never modified
        (workdir / "pir").mkdir(exist_ok=True)
        pir_program = shutil.copyfile(program, workdir / "pir" / "inference.json")
        pir_program, pir_params = Path(pir_program), params
    pir_patches = patch_pir_json(pir_program)

    raw = workdir / "raw.onnx"
    paddle2onnx.export(str(pir_program), str(pir_params), save_file=str(raw), opset_version=request["opset"],
                       auto_upgrade_opset=False, enable_onnx_checker=True, enable_optimize=True,
                       optimize_tool="None", verbose=False)
    model = onnx.load(str(raw))
    onnx_repairs = fix_concat_ranks(model)
    onnx_cleanup = remove_unused(model)  # last: after the repairs, so whatever they left unread goes too
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, request["output"])
    convert_s = time.perf_counter() - started

    report = verify(request, model)
    return {"pir_patches": sorted(set(pir_patches)), "pir_patch_count": len(pir_patches),
            "onnx_repairs": onnx_repairs, "onnx_cleanup": onnx_cleanup, "convert_s": round(convert_s, 3),
            "verification": report.to_dict()}


def verify(request: dict, model):
    import onnxruntime
    import paddle.inference as paddle_inference

    from ..device import cpu_quota
    from .verify import compare, verification_shapes

    config = paddle_inference.Config(request["program"], request["params"])
    config.disable_gpu()
    config.disable_mkldnn()  # the plain FP32 kernels are the reference
    config.set_cpu_math_library_num_threads(cpu_quota())
    config.disable_glog_info()
    predictor = paddle_inference.create_predictor(config)

    def run_paddle(batch):
        handle = predictor.get_input_handle(predictor.get_input_names()[0])
        handle.reshape(list(batch.shape))
        handle.copy_from_cpu(batch)
        predictor.run()
        return [predictor.get_output_handle(name).copy_to_cpu() for name in predictor.get_output_names()]

    session = onnxruntime.InferenceSession(request["output"], providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run_onnx(batch):
        return session.run(None, {input_name: batch})

    input_shape = [d.dim_value if d.dim_value > 0 else None for d in model.graph.input[0].type.tensor_type.shape.dim]
    shapes = request.get("shapes") or verification_shapes(input_shape, request.get("dynamic_shapes"))
    return compare(run_paddle, run_onnx, shapes, request["tolerance"])


def main(argv) -> int:
    die_with_parent(int(argv[2]))
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    report = run(request)
    Path(argv[1]).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

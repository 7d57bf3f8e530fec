"""`hpi batch --ray`: the same job on Ray Data, one TextRecognition per actor, results written by the driver.

The pending paths go to Ray Data in waves (`from_items`, WAVE_PATHS at a time, so the driver never holds a
Dataset of millions of rows); `map_batches` runs `RecognizeBatch`, a callable class, on a pool of actors
(`concurrency=workers`), each taking a batch of paths and returning one JSON record per line or bad input. The
driver writes the records in order of completion into the same store as the in-process job, so a Ray run resumes
an in-process one and the other way round.

Threads: each actor reserves `cpus_per_worker` CPUs from Ray and its backend gets that many threads (hpi_config
backend_config `cpu_num_threads` / `num_streams`, unless the user set them), so actors x
threads never oversubscribes the machine: without it each actor would take every CPU of its node.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Callable, Dict, Iterable, Optional

from .._deps import require
from ..runtime.device import Device
from ..runtime.model_spec import ModelSpec
from ..errors import BackendError, ConfigError
from ..ray_cluster import connect
from .records import recognize
from .sources import chunked
from .store import ResultStore

logger = logging.getLogger(__name__)

WAVE_PATHS = 100_000  # paths per Dataset: the driver's memory for rows, and an actor pool start per wave
RAY_BATCH_PATHS = 64  # paths per map_batches call: small enough to spread, large enough for the backend's batches
# Measured on 2 CPUs (PP-OCRv6_tiny_rec, 5,120 lines, a busy machine): 2 actors x 1 thread 112-116 lines/s, 1 actor
# x 2 threads (2 streams) 91-110, in-process 112-118. One thread per actor, as many actors as CPUs.
DEFAULT_THREADS_PER_WORKER = 1
_RAY_DATA_LOG = logging.getLogger("ray.data")


@dataclasses.dataclass(frozen=True)
class WorkerPlan:
    workers: int
    cpus_per_worker: float
    threads: int  # backend threads per actor (CPU); 0 on a GPU
    gpus_per_worker: float = 0.0


def plan_workers(resources: Dict[str, float], num_workers: Optional[int], device: Device) -> WorkerPlan:
    """How many actors, and the CPUs (or GPUs) each reserves, from the cluster's resources."""
    if device.kind == "gpu":
        gpus = float(resources.get("GPU", 0))
        workers = num_workers or max(1, int(gpus))
        return WorkerPlan(workers, 1.0, 0, gpus / workers if gpus else 1.0)
    cpus = float(resources.get("CPU", 1)) or 1.0
    workers = num_workers or max(1, int(cpus) // DEFAULT_THREADS_PER_WORKER)
    share = cpus / workers  # may be a fraction: more actors than CPUs still all start, each with one thread
    return WorkerPlan(workers, share, max(1, int(share)))


class RecognizeBatch:
    """The map_batches callable: one TextRecognition for the actor's life, a batch of paths in, JSON records out
    (one string column, so blocks of results and of errors always share a schema)."""

    def __init__(self, options: Dict[str, Any], batch_size: int, max_image_pixels: Optional[int]):
        from ..tasks.text_recognition import TextRecognition

        self.model = TextRecognition.from_spec(ModelSpec.of(**options))  # the driver's spec, made again here
        self.batch_size, self.max_image_pixels = batch_size, max_image_pixels

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        import numpy as np

        paths = [str(path) for path in batch["path"]]
        records = [json.dumps(r, ensure_ascii=False)
                   for r in recognize(self.model, paths, self.batch_size, self.max_image_pixels)]
        return {"record": np.array(records, dtype=object)}


def run_on_ray(pending: Iterable[str], store: ResultStore, spec: ModelSpec, *, batch_size: int,
               max_image_pixels: Optional[int], address: Optional[str], num_workers: Optional[int],
               on_progress: Callable[[], None]) -> WorkerPlan:
    """Recognize `pending` on Ray (a local cluster started for the call, the cluster at `address`, or the one this
    process is already connected to) and write the records into `store`. Returns the worker plan used."""
    ray = require("ray")
    require("ray.data")
    check_address(address)
    started_here = connect(ray, address)
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.execution_options.preserve_order, _RAY_DATA_LOG.level
    context.enable_progress_bars = False  # our own progress line instead (and Ray's warning that it is off, once)
    ray.util.debug.log_once("ray_data_progress_manager_disabled")
    context.execution_options.preserve_order = False  # records as they complete
    _RAY_DATA_LOG.setLevel(max(logging.WARNING, _RAY_DATA_LOG.getEffectiveLevel()))  # not a line per Dataset
    try:
        plan = plan_workers(ray.cluster_resources(), num_workers, spec.device)
        worker_options = _worker_spec(spec, plan, local=not address).portable()
        logger.info("Ray: %d worker(s), %.3g CPU(s) and %d thread(s) each%s", plan.workers, plan.cpus_per_worker,
                    plan.threads, f", {plan.gpus_per_worker:g} GPU each" if plan.gpus_per_worker else "")
        for wave in chunked(pending, WAVE_PATHS):
            dataset = ray.data.from_items([{"path": path} for path in wave]).map_batches(
                RecognizeBatch, batch_size=RAY_BATCH_PATHS, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=plan.workers), num_cpus=plan.cpus_per_worker,
                num_gpus=plan.gpus_per_worker or None,
                fn_constructor_kwargs={"options": worker_options, "batch_size": batch_size,
                                       "max_image_pixels": max_image_pixels})
            try:
                for block in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    for text in block["record"]:
                        store.add(json.loads(text))
                    store.maybe_flush()  # a block holds whole inputs
                    on_progress()
            except ray.exceptions.RayError as exc:
                raise BackendError(f"the Ray Data job failed (results so far are kept): {_cause(exc)}") from exc
        return plan
    finally:
        context.enable_progress_bars, context.execution_options.preserve_order, level = saved
        _RAY_DATA_LOG.setLevel(level)
        if started_here:
            ray.shutdown()


def check_address(address: Optional[str]) -> None:
    if address and address.startswith("ray://"):
        raise ConfigError(f"--address {address!r}: Ray Data does not run over Ray Client (ray://): with Ray 2.60 "
                          "its streaming executor fails on a client. Run hpi batch on a node of the cluster with "
                          "--address auto, or submit it there: ray job submit -- hpi batch ... --ray --address auto")


def _worker_spec(spec: ModelSpec, plan: WorkerPlan, local: bool) -> ModelSpec:
    """The spec of an actor: the model fetched here for a local cluster (by each node for a remote one), its share
    of threads, and the GPU Ray gives it as gpu:0 (Ray sets CUDA_VISIBLE_DEVICES per actor)."""
    if local:
        spec = spec.fetched()
    worker = dataclasses.replace(spec, device=Device("gpu", 0) if spec.device.kind == "gpu" else Device("cpu"))
    return worker.with_threads(plan.threads)


def _cause(exc: BaseException) -> str:
    """What went wrong on a worker, from a Ray error whose text holds the worker's traceback: the last hpi error
    there with its detail lines (a model that no actor could load, say), else the error's first line."""
    text = str(exc)
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("hpi.errors.")]
    if starts:
        detail = lines[starts[-1]:starts[-1] + 12]
        return "\n".join(line for line in detail if line.strip()).replace("hpi.errors.", "", 1)
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"

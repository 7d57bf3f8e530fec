"""`hpi serve --ray`: the app of `hpi serve` (same endpoints, envelope and limits) as a Ray Serve deployment, scaled
out over replicas, each holding one TextRecognition.

    hpi serve --model_dir D --use_hpip --ray --num_replicas 2          # a local Ray cluster of this machine's CPUs
    hpi serve --model_dir D --use_hpip --ray --autoscaling 1:4 --address auto   # the cluster of `ray start --head`
    serve run hpi.serving.ray_app:build_app model_dir=D use_hpip=true num_replicas=2
    serve run docs/ray_serve.yaml                                      # import_path, args and deployments

Each replica builds the FastAPI app of hpi.serving (`create_app(recognize=...)`: request decoding, envelope, body,
line and pixel limits, /health, /ready, /metrics of that replica, the page at /) and serves it through
`@serve.ingress`. Lines of concurrent requests are gathered by `@serve.batch` (max_batch_lines lines at most,
batch_wait_ms, batch_workers batches at once) into ONE `predict(lines, batch_size=...)` call, as `hpi serve`'s own
batcher does: predict groups lines by padded width, so a line's text never depends on its neighbours (normal mode
pads to the widest line: there each request keeps its own predict call). A request with more lines than
max_batch_lines runs alone.

Threads: a replica's backend gets as many threads as the CPUs Ray assigned to it (`ray_actor_options.num_cpus`,
read in the replica, so a config file's value counts), so replicas x threads never oversubscribes a node.
ray is imported only here, never by `import hpi.serving`; a missing ray raises MissingDependencyError naming the
`ray` extra.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import signal
import threading
import typing
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

from .._deps import install_hint, require
from ..errors import BackendError, ConfigError, MissingDependencyError
from .batcher import LineResult, mixes_requests, predict_requests
from .metrics import ServingMetrics
from .settings import ServeSettings

if TYPE_CHECKING:
    import numpy as np

    from ..runtime.model_spec import ModelSpec

logger = logging.getLogger("hpi.serving")

APP_NAME = "hpi"
DEPLOYMENT_NAME = "HpiTextRecognition"
MIN_RAY = (2, 60)
DEFAULT_REPLICA_CPUS = 2.0  # a replica's CPUs when nothing says otherwise (serve run without a config's num_cpus)


# -- the replica ---------------------------------------------------------------------------------------------------
class TextRecognitionReplica:
    """One Ray Serve replica: one TextRecognition, and the lines of its concurrent requests batched into one
    predict call by @serve.batch (set up here, from the settings the deployment was bound with)."""

    def __init__(self, options: Dict[str, Any], settings: Dict[str, Any]):
        serve = require("ray.serve")
        from ..tasks.text_recognition import TextRecognition

        self.settings = s = ServeSettings(**settings)
        self.threads = _assigned_threads()
        self.model = TextRecognition.from_spec(_replica_spec(options, self.threads))
        self.metrics = ServingMetrics()
        self._pool = ThreadPoolExecutor(s.batch_workers, thread_name_prefix="hpi-replica")
        self._queued = 0  # lines waiting for a batch (changed on the replica's event loop only)
        self._batched = None
        if s.batching and mixes_requests(self.model, s.batch_size):
            cap = s.max_batch_lines  # a larger request counts as a full batch: it runs alone

            def lines(requests: List[List["np.ndarray"]]) -> int:
                return sum(min(len(request), cap) for request in requests)

            # applied here rather than on the class: max_concurrent_batches and batch_size_fn are set only there
            self._batched = serve.batch(max_batch_size=cap, batch_wait_timeout_s=s.batch_wait_ms / 1000,
                                        max_concurrent_batches=s.batch_workers, batch_size_fn=lines)(self._predict)
        logger.info("replica ready: %s on %s, %s thread(s)", self.model.model_name, self.model.backend,
                    self.threads or "default")

    def __serve_build_asgi_app__(self):
        from .app import create_app

        return create_app(recognize=self.recognize, settings=self.settings, metrics=self.metrics)

    async def recognize(self, images: List["np.ndarray"]) -> List[LineResult]:
        self._count_queued(len(images))
        if self._batched is not None:
            return await self._batched(images)
        return (await self._predict([images]))[0]

    async def _predict(self, requests: List[List["np.ndarray"]]) -> List[List[LineResult]]:
        self._count_queued(-sum(len(request) for request in requests))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, predict_requests, self.model, requests, self.settings.batch_size,
                                          self.metrics)

    def _count_queued(self, lines: int) -> None:
        self._queued += lines
        self.metrics.queue_lines.set(self._queued)

    def close(self) -> None:
        """Finish the batches in progress, then release the model. Idempotent."""
        pool, model = self.__dict__.pop("_pool", None), self.__dict__.pop("model", None)
        if pool is not None:
            pool.shutdown(wait=True)
        if model is not None:
            model.close()

    def __del__(self):
        # Ray Serve's only shutdown hook for a deployment: once Serve has drained the replica's requests, it calls
        # the deployment's __del__ explicitly (ray.serve._private.replica: call_destructor, on the user thread).
        self.close()


def _assigned_threads() -> int:
    """Backend threads for this replica: the CPUs Ray assigned to it (0, the backend's default, when none)."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    return max(1, int(cpus)) if cpus else 0


def _replica_spec(options: Dict[str, Any], threads: int):
    """The replica's ModelSpec, from the portable options, with `threads` backend threads (unless hpi_config sets
    them)."""
    from ..runtime.model_spec import ModelSpec

    return ModelSpec.of(**options).with_threads(threads)


@dataclasses.dataclass(frozen=True)
class Scaling:
    num_replicas: int = 1
    autoscaling: Optional[Tuple[int, int]] = None  # (min, max) replicas, instead of num_replicas
    replica_cpus: float = DEFAULT_REPLICA_CPUS
    replica_gpus: float = 0.0


def deployment_options(settings: ServeSettings, scaling: Scaling) -> Dict[str, Any]:
    """Ray Serve options of the deployment (a config file's `deployments:` entry overrides any of them)."""
    options: Dict[str, Any] = {
        # enough requests in a replica for max_batch_lines-line batches on every batch worker
        "max_ongoing_requests": settings.max_batch_lines * settings.batch_workers,
        # requests waiting in each proxy for a replica; beyond: 503
        "max_queued_requests": settings.max_queue_lines,
        "ray_actor_options": {"num_cpus": scaling.replica_cpus},
    }
    if scaling.replica_gpus:
        options["ray_actor_options"]["num_gpus"] = scaling.replica_gpus
    if scaling.autoscaling:
        low, high = scaling.autoscaling
        # about the requests that keep a replica's batch workers busy with full predict batches
        options["autoscaling_config"] = {"min_replicas": low, "max_replicas": high, "initial_replicas": low,
                                         "target_ongoing_requests": settings.batch_size * settings.batch_workers}
    else:
        options["num_replicas"] = scaling.num_replicas
    return options


def application(options: Union[Dict[str, Any], "ModelSpec"], settings: ServeSettings, scaling: Scaling):
    """The Serve application: the deployment bound to the model's options and the settings."""
    serve = require("ray.serve")
    _check_version(require("ray").__version__)
    deployment = serve.deployment(serve.ingress()(TextRecognitionReplica), name=DEPLOYMENT_NAME)
    return deployment.options(**deployment_options(settings, scaling)).bind(_replicas_spec(options).portable(),
                                                                            dataclasses.asdict(settings))


def _on_gpu(options: Dict[str, Any]) -> bool:
    from ..runtime.device import parse_device

    return options.get("device") is not None and parse_device(options["device"]).kind == "gpu"


def _check_version(version: str) -> None:
    """Late-bound ingress (`__serve_build_asgi_app__`) and serve.batch's batch_size_fn need a recent Ray."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return  # a development build: let it try
    if found < MIN_RAY:
        raise MissingDependencyError(f"hpi serve --ray needs ray[serve] >= {'.'.join(map(str, MIN_RAY))}, found "
                                     f"{version}. Install it with: " + install_hint("ray", "'ray[data,serve]>=2.60'"))


def _replicas_spec(options: Union[Dict[str, Any], "ModelSpec"]) -> "ModelSpec":
    """The spec every replica makes again (from its portable(), on any node): checked here once (a bad model folder
    or hpi_config fails now, not in every replica), use_hpip decided once for every replica, and a GPU replica's own
    GPU as gpu:0 (Ray sets CUDA_VISIBLE_DEVICES for it; this process may have none). `options` may be a ModelSpec
    already made (hpi serve --ray): nothing is read again, and a spec made here comes back as it is."""
    from ..runtime.device import Device
    from ..runtime.model_spec import ModelSpec

    made = isinstance(options, ModelSpec)
    device = Device("gpu", 0) if (options.device.kind == "gpu" if made else _on_gpu(options)) else Device("cpu")
    spec = dataclasses.replace(options, device=device) if made else ModelSpec.of(**{**options, "device": device})
    return spec.decided()


# -- the application builder of `serve run` and config files ------------------------------------------------------
def build_app(args: Dict[str, Any]):
    """`serve run hpi.serving.ray_app:build_app model_dir=D use_hpip=true [num_replicas=2 | autoscaling=1:4]
    [replica_cpus=1] [any ServeSettings field, e.g. batch_wait_ms=5 max_batch_lines=64]`, or a config file's
    `import_path` with its `args:`. Values may be strings (the command line) or YAML values; they are checked
    against one pydantic model, `app_args_model()` (Serve's typed application builder: Serve validates a builder's
    pydantic-annotated argument itself, but that annotation would make pydantic a core dependency of hpi, so
    build_app takes the dict and validates it with the model here; an instance of the model is taken as it is)."""
    parsed = parse_app_args(args)
    options = parsed.model_options()
    return application(options, parsed.settings(), parsed.scaling(on_gpu=_on_gpu(options)))


def parse_app_args(args) -> "Any":
    """build_app's arguments as an `app_args_model()` instance; a bad or unknown one is a ConfigError naming it."""
    model = app_args_model()
    if isinstance(args, model):
        return args
    from pydantic import ValidationError

    try:
        return model.model_validate(dict(args or {}))
    except ValidationError as exc:
        raise _config_error(model, exc.errors()) from None


@functools.lru_cache(maxsize=None)
def app_args_model() -> type:
    """The pydantic model of build_app's arguments: the model's (ModelSpec.of's), the scaling's and every ServeSettings
    field (with the dataclass's types and defaults). Made on first use: importing hpi.serving needs no
    pydantic."""
    require("pydantic")
    from pydantic import BaseModel, ConfigDict, Field, create_model

    class AppArgs(BaseModel):
        model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

        model_name: Optional[str] = None
        model_dir: Optional[str] = None
        device: Optional[str] = None
        use_hpip: Optional[bool] = None  # None: the edge default
        enable_hpi: Optional[bool] = None  # PaddleOCR's name for use_hpip; wins when given
        hpi_config: Any = None  # a YAML file's path, or the mapping itself
        num_replicas: Optional[int] = Field(None, ge=1)
        autoscaling: Optional[str] = None  # MIN:MAX replicas, instead of num_replicas
        replica_cpus: float = Field(DEFAULT_REPLICA_CPUS, ge=0)

        def model_options(self) -> Dict[str, Any]:
            """ModelSpec.of's keyword arguments, enable_hpi merged into use_hpip as ModelSpec.of does."""
            from ..runtime.model_spec import MODEL_ARGS, check_use_hpip

            options = {key: getattr(self, key) for key in MODEL_ARGS}
            options["use_hpip"] = check_use_hpip(self.use_hpip, self.enable_hpi)
            return options

        def settings(self) -> ServeSettings:
            names = [field.name for field in dataclasses.fields(ServeSettings)]
            return ServeSettings(**{name: getattr(self, name) for name in names})

        def scaling(self, on_gpu: bool) -> Scaling:
            if self.autoscaling is not None and self.num_replicas is not None:
                raise ConfigError("give num_replicas or autoscaling, not both")
            autoscaling = parse_autoscaling(self.autoscaling) if self.autoscaling is not None else None
            return Scaling(self.num_replicas or 1, autoscaling, self.replica_cpus, 1.0 if on_gpu else 0.0)

    hints = typing.get_type_hints(ServeSettings)
    settings = {field.name: (hints[field.name], field.default) for field in dataclasses.fields(ServeSettings)}
    return create_model("RayAppArgs", __base__=AppArgs, **settings)


def _config_error(model, errors: List[Dict[str, Any]]) -> ConfigError:
    """One ConfigError from pydantic's errors: the unknown arguments, else the first bad value and what it must be."""
    unknown = sorted(str(error["loc"][0]) for error in errors if error["type"] == "extra_forbidden")
    if unknown:
        return ConfigError(f"unknown argument(s) {unknown} of build_app; allowed: {sorted(model.model_fields)}")
    error = errors[0]
    name = str(error["loc"][0])
    return ConfigError(f"{name} must be {_expected(model.model_fields[name])}, got {error['input']!r}")


def _expected(field) -> str:
    kind = next((arg for arg in typing.get_args(field.annotation) if arg is not type(None)), field.annotation)
    what = {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "a string" if kind is str else
                                                                             "valid")
    low = next((rule.ge for rule in field.metadata if hasattr(rule, "ge")), None)
    return what if low is None else f"{what} >= {low:g}"


def parse_autoscaling(text: str) -> Tuple[int, int]:
    """'MIN:MAX' replicas: 0 <= MIN <= MAX, MAX >= 1 (MIN 0: no replica while there are no requests)."""
    parts = text.split(":")
    try:
        low, high = (int(part) for part in parts)
    except ValueError:
        low = high = -1
    if len(parts) != 2 or low < 0 or high < max(low, 1):
        raise ConfigError(f"autoscaling must be MIN:MAX replicas with 0 <= MIN <= MAX and MAX >= 1, got {text!r}")
    return low, high


# -- `hpi serve --ray` ----------------------------------------------------------------------------------------------
def serve_on_ray(options: Union[Dict[str, Any], "ModelSpec"], settings: ServeSettings, *, host: str = "127.0.0.1",
                 port: int = 8080,
                 address: Optional[str] = None, num_replicas: Optional[int] = None,
                 autoscaling: Optional[Tuple[int, int]] = None, replica_cpus: Optional[float] = None,
                 log_level: str = "INFO") -> int:
    """Deploy on Ray Serve (a local cluster of this process's CPUs, or the cluster at `address`), Serve's HTTP proxy
    on host:port; serve until SIGTERM (exit 0) or Ctrl-C, then drain and remove the application (and the local
    cluster). `options`: the model's options, or its ModelSpec already made (hpi serve --ray: checked, hpi_config
    read once)."""
    from ..ray_cluster import connect

    ray = require("ray")
    serve = require("ray.serve")
    spec = _replicas_spec(options)  # a bad model folder or hpi_config fails before Ray starts
    logging.getLogger("ray.serve").setLevel(log_level)  # Serve's lines in this process follow --log_level
    deploying = False
    connected_here = connect(ray, address)
    own_cluster = connected_here and not address
    stop = _StopOnSigterm()  # from now on: a SIGTERM while deploying stops right after
    try:
        high = autoscaling[1] if autoscaling else (num_replicas or 1)
        cpus = replica_cpus if replica_cpus is not None else _fair_share(ray, high)
        scaling = Scaling(num_replicas or 1, autoscaling, cpus, 1.0 if spec.device.kind == "gpu" else 0.0)
        app = application(spec, settings, scaling)
        serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": log_level})
        deploying = True
        try:
            serve.run(app, name=APP_NAME, route_prefix="/", logging_config={"log_level": log_level})
        except RuntimeError as exc:  # the replicas could not start
            raise BackendError(f"the Ray Serve deployment failed: {_replica_error(serve) or exc}") from exc
        what = f"{autoscaling[0]} to {autoscaling[1]} replicas" if autoscaling else f"{scaling.num_replicas} replica(s)"
        logger.info("serving on http://%s:%d (Ray Serve, %s, %g CPU(s) each)", host, port, what, cpus)
        while not stop.wait(1):  # Ctrl-C: KeyboardInterrupt here
            pass
        return 0
    finally:
        try:
            _stop(ray, serve, connected_here, own_cluster, deployed=deploying)
        finally:
            stop.restore()


def _replica_error(serve) -> str:
    """The exception that stopped the replicas, from the end of the deployment's status message (a traceback)."""
    try:
        message = serve.status().applications[APP_NAME].deployments[DEPLOYMENT_NAME].message or ""
    except Exception:  # no status to read: the caller says what it has
        return ""
    raised = list(re.finditer(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)): ", message, re.M))
    return (raised[-1].group(1) + ": " + message[raised[-1].end():].strip()) if raised else ""


def _fair_share(ray, replicas: int) -> float:
    """CPUs per replica: the cluster's CPUs shared among the most replicas, at most one node's, at least 1."""
    nodes = [node.get("Resources", {}).get("CPU", 0) for node in ray.nodes() if node.get("Alive")]
    total = sum(nodes) or 1
    return float(max(1, min(int(total) // replicas, int(max(nodes, default=1)))))


class _StopOnSigterm(threading.Event):
    """Set by SIGTERM (on the main thread; Ray's own handler, installed by ray.init, would abort the process)."""

    def __init__(self):
        super().__init__()
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: self.set())

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None


def _stop(ray, serve, connected_here: bool, own_cluster: bool, deployed: bool) -> None:
    """Drain: Serve waits for each replica's requests in flight. A cluster of our own goes entirely; on a joined
    cluster only our application goes (other applications and Serve itself stay)."""
    try:
        if deployed:
            if own_cluster:
                serve.shutdown()
            else:
                serve.delete(APP_NAME)
    finally:
        if connected_here:
            ray.shutdown()

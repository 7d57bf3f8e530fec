"""`hpi serve`: text recognition (or the OCR pipeline, --pipeline OCR) over HTTP, in-process or on Ray Serve.

The limits and batching flags are ServeSettings' fields of the same names; a flag not given is ServeSettings'
default, so the parser needs nothing of hpi.serving (nor FastAPI) to be built.
"""
from __future__ import annotations

from ..errors import ConfigError
from .args import add_model_options, add_ocr_options, at_least, given_ocr_options, model_spec, ocr_options

RAY_OPTIONS = ("num_replicas", "autoscaling", "address", "replica_cpus")


def add(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve text recognition over HTTP (PaddleX's envelope; needs the "
                                                 "'serve' extra)")
    add_model_options(parser)
    parser.add_argument("--pipeline", choices=["OCR"], default=None,
                        help="serve the OCR pipeline: POST /ocr (PaddleX's OCR serving schema) beside "
                             "/text-recognition (the pipeline's recognizer); its models and settings by the OCR "
                             "options below (PaddleOCR's names, as `hpi ocr`), not --model_name/--model_dir")
    names = []

    def setting(flag: str, **kwargs) -> None:  # a ServeSettings field; not given: None, its default
        names.append(parser.add_argument(flag, default=None, **kwargs).dest)

    setting("--batch_size", type=at_least(1), help="predict's batch_size for each gathered batch")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=at_least(0), default=8080)
    setting("--max_body_mb", type=float, help="largest request body, and largest URL download (413 beyond)")
    setting("--max_image_pixels", type=at_least(0),
            help="largest image or PDF page, width x height (422 beyond; 0: no limit)")
    setting("--max_lines_per_request", type=at_least(1), help="images, crops or PDF pages in one request (413 beyond)")
    setting("--max_queue_lines", type=at_least(1),
            help="lines waiting for the model, all requests together (503 beyond)")
    setting("--batch_wait_ms", type=float,
            help="how long a line waits for lines of other requests to share its predict call "
                 "(0: no cross-request batching, one predict call per request)")
    setting("--max_batch_lines", type=at_least(1), help="a gathered batch runs at once when it has this many lines")
    setting("--batch_workers", type=at_least(1), help="gathered batches running at once")
    setting("--allow_url_fetch", action="store_true",
            help="accept an http(s) URL as `file` (public addresses only, unless --allow_private_urls)")
    setting("--allow_private_urls", action="store_true",
            help="let fetched URLs reach private, loopback and link-local addresses")
    setting("--url_timeout_s", type=float, help="time limit of a URL download")
    setting("--max_request_pixels", type=at_least(0),
            help="decoded pixels of one request, its images, crops and PDF pages together, checked before each is "
                 "decoded (413 beyond; 0: no limit)")
    setting("--max_pixels_in_flight", type=at_least(0),
            help="decoded pixels all requests hold at once (503 beyond; 0: no limit)")
    setting("--pdf_page_timeout_s", type=float, help="time limit to render one PDF page (422 beyond)")
    setting("--header_timeout_s", type=float,
            help="a request's header must arrive within this of its connection (or previous response)")
    setting("--body_timeout_s", type=float, help="a request's body must arrive within this of its header")
    setting("--max_connections", type=at_least(1), help="open connections; more are closed as they arrive")
    setting("--shutdown_timeout_s", type=float,
            help="after SIGTERM, how long requests in progress may take before they are cut")
    ray = parser.add_argument_group("Ray Serve (needs the 'ray' extra)")
    ray.add_argument("--ray", action="store_true", help="serve on Ray Serve: replicas each holding one model, Serve's "
                                                        "HTTP proxy on --host/--port")
    scale = ray.add_mutually_exclusive_group()
    scale.add_argument("--num_replicas", type=at_least(1), default=None, help="with --ray: replicas (default 1)")
    scale.add_argument("--autoscaling", default=None, metavar="MIN:MAX",
                       help="with --ray: replicas scaled by Serve between MIN and MAX with the load")
    ray.add_argument("--address", default=None,
                     help="with --ray: the cluster to join ('auto' after `ray start --head`, or HEAD_IP:6379); "
                          "without it a local Ray cluster of this machine's CPUs is started")
    ray.add_argument("--replica_cpus", type=float, default=None,
                     help="with --ray: CPUs each replica reserves, and its backend threads (default: the cluster's "
                          "CPUs / the most replicas, at most one node's)")
    add_ocr_options(parser)
    parser.set_defaults(handler=run, serve_setting_names=tuple(names))


def serve_settings(args):
    """ServeSettings of the flags given (checked there: a bad value is a ConfigError)."""
    from ..serving.settings import ServeSettings

    return ServeSettings(**{name: getattr(args, name) for name in args.serve_setting_names
                            if getattr(args, name) is not None})


def run(args) -> int:
    if args.pipeline == "OCR":
        return run_ocr(args)
    ocr_given = [f"--{name}" for name in given_ocr_options(args)]
    if ocr_given:
        raise ConfigError(f"{', '.join(ocr_given)}: OCR pipeline options, for `hpi serve --pipeline OCR`")
    settings = serve_settings(args)
    scaling = ray_scaling(args)
    spec = model_spec(args, "TextRecognition")  # the model dir read now: a bad one fails before the server starts
    if args.ray:
        from ..serving.ray_app import serve_on_ray

        return serve_on_ray(spec, settings, host=args.host, port=args.port, log_level=args.log_level, **scaling)
    from ..serving.server import serve

    def load_model():
        from ..tasks.text_recognition import TextRecognition

        return TextRecognition.from_spec(spec)

    return serve(load_model, settings, host=args.host, port=args.port, log_level=args.log_level)


def ray_scaling(args) -> dict:
    """--address, --num_replicas, --autoscaling and --replica_cpus, checked (they need --ray), as serve_on_ray's
    keyword arguments."""
    if not args.ray:
        given = [f"--{name}" for name in RAY_OPTIONS if getattr(args, name) is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} need(s) --ray")
        return {}
    from ..serving.ray_app import parse_autoscaling

    if args.replica_cpus is not None and args.replica_cpus <= 0:
        raise ConfigError(f"--replica_cpus must be a number > 0, got {args.replica_cpus:g}")
    return {"address": args.address, "num_replicas": args.num_replicas, "replica_cpus": args.replica_cpus,
            "autoscaling": parse_autoscaling(args.autoscaling) if args.autoscaling is not None else None}


def run_ocr(args) -> int:
    """`hpi serve --pipeline OCR`: every option checked before the pipeline loads (in the background)."""
    from .. import pipelines
    from ..serving.ocr import OCRService
    from ..serving.server import serve

    given = [name for name in ("model_name", "model_dir") if getattr(args, name) is not None]
    if given:
        raise ConfigError(f"--pipeline OCR names its models with --text_detection_model_dir, "
                          f"--text_recognition_model_dir, ... (PaddleOCR's names), not --{' / --'.join(given)}")
    ray_given = [f"--{name}" for name in ("ray",) + RAY_OPTIONS if getattr(args, name) not in (None, False)]
    if ray_given:
        raise ConfigError(f"--pipeline OCR does not run on Ray Serve yet: leave out {', '.join(ray_given)}")
    plan = pipelines.OCR.check(**ocr_options(args))  # every option and each sub-model's hpi_config, read once
    service = OCRService(lambda: pipelines.OCR.from_plan(plan))
    return serve(service.load_recognizer, serve_settings(args), host=args.host, port=args.port,
                 log_level=args.log_level, ocr=service)

"""`hpi benchmark`: normal vs high-performance timing tables with accuracy, races against peers, and the OCR
pipeline's race (--pipeline OCR)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Sequence

from ..errors import ConfigError
from .args import at_least, backend_list, device_here, existing_dir, int_list, positive_float


def add(subparsers) -> None:
    parser = subparsers.add_parser("benchmark", help="normal vs high-performance timing tables, with accuracy")
    parser.add_argument("--model_dir", action="append", default=[], type=existing_dir,
                        help="a model dir (repeatable)")
    parser.add_argument("--model_name", action="append", default=[], help="an official model (repeatable)")
    parser.add_argument("--device", default="cpu", type=device_here)
    parser.add_argument("--output", required=True, help="folder for results.json, table.md, chart.png")
    parser.add_argument("--dataset", default=None, help="folder with labels.txt (relative/path<TAB>text)")
    parser.add_argument("--batch_sizes", default="1,8", type=int_list)
    parser.add_argument("--backends", default=None, type=backend_list,
                        help="comma list to restrict high-performance candidates")
    parser.add_argument("--threads", default=None, type=int_list,
                        help="comma list of thread counts (default: the CPUs this process may use)")
    parser.add_argument("--seconds", type=positive_float, default=2.0,
                        help="timing budget per candidate and batch size")
    parser.add_argument("--peer", action="append", default=[], metavar="SYSTEM=PYTHON",
                        help="race a peer in its own environment: paddlex, rapidocr_openvino, rapidocr_onnxruntime "
                             "(RapidOCR 1.x), rapidocr3_openvino or rapidocr3_onnxruntime (RapidOCR 3.x on the "
                             "same ONNX file) "
                             "= that environment's python (repeatable; needs --dataset)")
    parser.add_argument("--race_system", action="append", default=[], metavar="NAME=HPI_CONFIG",
                        help="race another hpi configuration: a name, '=', and an hpi_config as JSON (repeatable)")
    parser.add_argument("--race_rounds", type=at_least(0), default=3,
                        help="interleaved rounds over the dataset per system in the race (0: no race)")
    parser.add_argument("--race_batch_size", type=at_least(1), default=8, help="batch_size of the race's predict calls")
    parser.add_argument("--rss_lines", type=at_least(0), default=0,
                        help="after the race, stream this many lines (the dataset repeated) and record memory")
    parser.add_argument("--no_model_rows", action="store_true",
                        help="skip the per-candidate tables (model rows and single end-to-end passes)")
    pipeline = parser.add_argument_group("OCR pipeline rows (--pipeline OCR): images/s and per-stage time of hpi's "
                                         "OCR vs PaddleX's and RapidOCR 3.x's pipelines, the same models")
    pipeline.add_argument("--pipeline", choices=["OCR"], default=None,
                          help="race the OCR pipeline over --images instead of text recognition over --dataset")
    pipeline.add_argument("--images", default=None, type=existing_dir, help="a folder of real images (OCR race)")
    pipeline.add_argument("--text_detection_model_dir", default=None, type=existing_dir)
    pipeline.add_argument("--text_recognition_model_dir", default=None, type=existing_dir)
    pipeline.add_argument("--textline_orientation_model_dir", default=None, type=existing_dir,
                          help="with it, every system classifies text-line orientation")
    pipeline.add_argument("--no_normal_mode", action="store_true", help="leave hpi's normal mode out of the race")
    parser.set_defaults(handler=run)


def race_systems(specs: List[str]) -> Dict[str, dict]:
    """--race_system NAME=HPI_CONFIG (JSON), each hpi_config checked."""
    import json

    from ..runtime.config import HPIConfig

    systems = {}
    for spec in specs:
        name, _, text = spec.partition("=")
        try:
            config = json.loads(text)
        except ValueError:
            config = None
        if not name or not isinstance(config, dict):
            raise ConfigError(f"--race_system {spec!r}: expected NAME={{...}} with an hpi_config as a JSON object")
        try:
            HPIConfig.from_user(config)
        except ConfigError as exc:
            raise ConfigError(f"--race_system {name}: {exc}") from None
        systems[name] = config
    return systems


def peers(specs: List[str], known: Sequence[str], race: str = "") -> Dict[str, str]:
    """--peer SYSTEM=PYTHON, SYSTEM one of `known` (`race`: which race they are for, in the message)."""
    found = {}
    for spec in specs:
        name, _, python = spec.partition("=")
        if name not in known or not python:
            raise ConfigError(f"--peer {spec!r}: {race}expected SYSTEM=PYTHON with SYSTEM one of {', '.join(known)}")
        found[name] = python
    return found


def _output(args) -> Path:
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {args.output!r} exists and is not a folder")
    return output


def run(args) -> int:
    if args.pipeline:
        return run_pipeline(args)
    from ..bench.race import PEER_SYSTEMS
    from ..bench.report import write_report
    from ..bench.runner import benchmark
    from ..bench.spec import BenchmarkSpec, RaceSpec
    from ..runtime.device import cpu_quota, parse_device
    from ..runtime.download import ensure_official_model
    from ..runtime.model_dir import load_model_dir
    from ..tasks.text_recognition.labels import read_dataset

    # Everything checked before the first download or model load.
    if not args.model_dir and not args.model_name:
        raise ConfigError("give at least one --model_dir or --model_name")
    racing, systems = peers(args.peer, PEER_SYSTEMS), race_systems(args.race_system)
    if racing and not args.dataset:
        raise ConfigError("--peer races on image files: give --dataset too")
    dataset = Path(args.dataset) if args.dataset else None
    if dataset:
        read_dataset(dataset)  # a DatasetError names the file and line
    output = _output(args)

    dirs = [load_model_dir(d) for d in args.model_dir] + [load_model_dir(ensure_official_model(n), n)
                                                         for n in args.model_name]
    race = RaceSpec(rounds=args.race_rounds, batch_size=args.race_batch_size, rss_lines=args.rss_lines, peers=racing,
                    extra_systems=systems)
    result = benchmark(BenchmarkSpec(dirs, parse_device(args.device), args.threads or [cpu_quota()],
                                     args.batch_sizes, dataset, args.backends, seconds=args.seconds,
                                     model_rows=not args.no_model_rows, race=race))
    write_report(result, output)
    print((output / "table.md").read_text(encoding="utf-8"))
    return 0


def run_pipeline(args) -> int:
    """--pipeline OCR: hpi's OCR pipeline raced against PaddleX's and RapidOCR's on --images."""
    import json

    from .._fs import atomic_write
    from ..bench.pipeline_race import PIPELINE_PEERS, OCRModels, race_ocr, race_table
    from ..inputs import IMAGE_SUFFIXES
    from ..runtime.device import cpu_quota

    if not (args.images and args.text_detection_model_dir and args.text_recognition_model_dir):
        raise ConfigError("--pipeline OCR needs --images, --text_detection_model_dir and --text_recognition_model_dir")
    racing = peers(args.peer, PIPELINE_PEERS, race="with --pipeline OCR, ")
    images = sorted(str(p) for p in Path(args.images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConfigError(f"--images {args.images!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    output = _output(args)
    models = OCRModels(Path(args.text_detection_model_dir), Path(args.text_recognition_model_dir),
                       Path(args.textline_orientation_model_dir) if args.textline_orientation_model_dir else None)
    race = race_ocr(images, models, args.device, racing, rounds=max(1, args.race_rounds), threads=cpu_quota(),
                    normal_mode=not args.no_normal_mode, progress=lambda text: print(text, file=sys.stderr))
    table = race_table(race)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write(output / "pipeline.json", json.dumps(race.to_dict(), indent=2, ensure_ascii=False).encode("utf-8"))
    atomic_write(output / "pipeline.md", table.encode("utf-8"))
    print(table)
    return 0

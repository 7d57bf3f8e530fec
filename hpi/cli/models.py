"""`hpi models`: the models hpi knows, with this CPU's backend orders."""
from __future__ import annotations


def add(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the models hpi knows (recognition, detection, "
                                                  "text-line orientation)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args) -> int:
    import json

    from ..runtime.catalog import catalog, catalog_table
    from ..runtime.device import cpu_class

    entries = list(catalog().values())
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
    else:
        print(catalog_table(entries, cpu_class()))
    return 0

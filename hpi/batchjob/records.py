"""The records `hpi batch` writes: one per recognized line, one per input that could not be read."""
from __future__ import annotations

from typing import Iterator, List, Optional

FIELDS = ("input_path", "page_index", "rec_text", "rec_score")  # a result's public keys, in its order


def result_record(result) -> dict:
    return {key: result[key] for key in FIELDS}


def error_input_path(error, paths: set) -> str:
    """The input an InputError is about: its source, or the document of a page ("<path> page <n>")."""
    source = error.source or str(error)
    head, separator, _ = source.rpartition(" page ")
    return head if source not in paths and separator and head in paths else source


def recognize(model, paths: List[str], batch_size: int, max_image_pixels: Optional[int]) -> Iterator[dict]:
    """Records for `paths` in input order: a result per line, {"input_path", "error"} per bad input."""
    bad: list = []
    known = set(paths)

    def errors() -> Iterator[dict]:
        while bad:
            error = bad.pop(0)
            yield {"input_path": error_input_path(error, known), "error": str(error)}

    for result in model.predict_iter(paths, batch_size=batch_size, on_bad_input=bad.append,
                                     max_image_pixels=max_image_pixels):
        yield from errors()
        yield result_record(result)
    yield from errors()

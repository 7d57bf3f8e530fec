"""What every pipeline does with the models it composes: name each one (by name, by folder, or a default), and
close them all."""
from __future__ import annotations

from typing import Iterable, Optional


def sub_model(name: Optional[str], directory, default_name: str) -> dict:
    """model_name / model_dir of one sub-model (ModelSpec.of's keyword arguments); PaddleOCR's default name when
    neither is given."""
    if name is None and directory is None:
        name = default_name
    return {"model_name": name, "model_dir": directory}


class ComposedModels:
    """close(), and `with`, for a pipeline: every model `_models()` gives that is loaded (not None) is closed."""

    def _models(self) -> Iterable:
        raise NotImplementedError

    def close(self) -> None:
        for model in self._models():
            if model is not None:
                model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

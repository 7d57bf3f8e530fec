"""One error hierarchy: catch `HPIError` to handle any failure of this package."""


class HPIError(Exception):
    """Base class of every error raised by hpi."""


class MissingDependencyError(HPIError, ImportError):
    """An optional framework is not installed; the message names the pip extra that brings it."""


class ConfigError(HPIError, ValueError):
    """An invalid argument, hpi_config key or value, or device string."""


class ModelDirError(HPIError):
    """A model directory is missing, incomplete or inconsistent."""


class ModelDownloadError(HPIError):
    """No source could deliver a complete, valid model; the message lists every source tried. `model`: the model's
    name; `failures`: each source's reason ("<source> (<where>): <why>")."""

    def __init__(self, message: str, failures: "list | None" = None, model: "str | None" = None):
        super().__init__(message)
        self.failures = list(failures or [])
        self.model = model


class InputError(HPIError, ValueError):
    """An input to predict() cannot be read or has the wrong form.

    `source` names the input: the path or URL as given, "input[3]" for the array at index 3 of the list passed
    (nested lists: "input[2][1]"), "input" for a lone array, "<path> page <n>" for a page; None if unknown.
    The message always names it too."""

    def __init__(self, message: str, source: "str | None" = None):
        if source is not None and source not in message:
            message = f"{source}: {message}"
        super().__init__(message)
        self.source = source


class BackendError(HPIError, RuntimeError):
    """An inference backend failed to load a model or to run it."""


class NoBackendAvailableError(BackendError):
    """No candidate backend could be loaded; the message lists each one's reason."""


class ConversionError(HPIError):
    """A model could not be converted, or the converted model did not match the original."""


class QuantizationError(HPIError):
    """No reduced-precision model held its accuracy gate (the message gives the numbers), or quantizing failed."""

"""One error hierarchy: catch `HPIError` to handle any failure of this package."""


class HPIError(Exception):
    """Base class of every error raised by hpi."""


class MissingDependencyError(HPIError, ImportError):
    """An optional framework is not installed; the message names the pip extra that brings it."""


class ConfigError(HPIError, ValueError):
    """An invalid argument, hpi_config key or value, or device string."""


class ModelDirError(HPIError):
    """A model directory is missing, incomplete or inconsistent."""


class InputError(HPIError, ValueError):
    """An input to predict() cannot be read or has the wrong form."""


class BackendError(HPIError, RuntimeError):
    """An inference backend failed to load a model or to run it."""


class NoBackendAvailableError(BackendError):
    """No candidate backend could be loaded; the message lists each one's reason."""


class ConversionError(HPIError):
    """A model could not be converted, or the converted model did not match the original."""

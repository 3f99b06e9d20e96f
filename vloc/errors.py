"""Errors a user can cause: each carries one clear line, printed by the CLI without a traceback."""


class VlocError(Exception):
    """Base class for user-facing errors."""


class InputError(VlocError):
    """A missing, unreadable or malformed input file or folder."""


class FormatError(VlocError):
    """An HDF5 or text file that lacks what a reader needs."""


class ConfigError(VlocError):
    """An unknown configuration name, key or an unparsable value."""


class BusyError(VlocError):
    """An output that another vloc run is writing at the same time."""


class ResourceError(VlocError):
    """An input too large for the resources a run is allowed (e.g. an image over the pixel budget)."""


class WorkerError(VlocError):
    """A worker of a distributed run that died; the shards it finished are kept for the next run."""

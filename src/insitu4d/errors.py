"""Exceptions raised on bad input. Each message says what was wrong and how to fix it."""

from __future__ import annotations

__all__ = [
    "Insitu4dError",
    "UnreadableFile",
    "MissingTiltAngles",
    "TiltAngleMismatch",
    "InvalidTiltAngles",
    "InvalidPixelValues",
    "NotAStack",
    "MissingPixelSize",
    "InvalidParameter",
    "BackendUnavailable",
    "UnwritableOutput",
    "OutputInUse",
    "MissingExtra",
    "UnknownElement",
    "UnknownXrayLine",
    "MissingEnergyCalibration",
    "NoSpectrumImage",
    "SchedulerUnreachable",
    "WorkerLost",
    "WorkerEnvironmentMismatch",
    "MemoryBudgetTooSmall",
]


class Insitu4dError(Exception):
    """Base class of every error insitu4d raises on purpose."""


class UnreadableFile(Insitu4dError, OSError):
    """A file is missing, of an unknown format, or could not be parsed."""


class MissingTiltAngles(Insitu4dError, ValueError):
    """No tilt angles in the file's metadata and none given."""


class TiltAngleMismatch(Insitu4dError, ValueError):
    """The number of tilt angles differs from the number of images."""


class InvalidTiltAngles(Insitu4dError, ValueError):
    """Tilt angles are duplicated, not monotonic, not finite or out of range."""


class InvalidPixelValues(Insitu4dError, ValueError):
    """The data hold NaN or infinite values."""


class NotAStack(Insitu4dError, ValueError):
    """A single image (or a wrongly shaped array) where a stack is needed."""


class MissingPixelSize(Insitu4dError, ValueError):
    """The pixel size is neither in the metadata nor given."""


class InvalidParameter(Insitu4dError, ValueError):
    """A parameter is out of its valid range."""


class BackendUnavailable(Insitu4dError, RuntimeError):
    """A reconstruction backend's optional dependency or device is missing."""


class UnwritableOutput(Insitu4dError, OSError):
    """An output path is a file where a folder is needed (or the reverse), or cannot be written."""


class OutputInUse(Insitu4dError, RuntimeError):
    """Another insitu4d process holds the lock of the output folder."""


class MissingExtra(Insitu4dError, ImportError):
    """An optional package is needed and not installed (the message names the extra to install)."""


class UnknownElement(Insitu4dError, ValueError):
    """An element symbol that is not in the periodic table (or not in the X-ray line table)."""


class UnknownXrayLine(Insitu4dError, ValueError):
    """An X-ray line the element does not have, one outside the recorded energy range, or a badly written name."""


class MissingEnergyCalibration(Insitu4dError, ValueError):
    """A spectrum (image) without an energy axis in keV or eV: its channels cannot be turned into energies."""


class NoSpectrumImage(UnreadableFile):
    """A file that reads but holds no EDX spectrum image (an image alone)."""


class SchedulerUnreachable(Insitu4dError, ConnectionError):
    """A dask scheduler address (``--scheduler``) that does not answer."""


class WorkerLost(Insitu4dError, RuntimeError):
    """A task whose dask worker died every time it was tried (out of memory, killed)."""


class WorkerEnvironmentMismatch(Insitu4dError, RuntimeError):
    """Dask workers of a running cluster (``--scheduler``) whose Python lacks insitu4d, or has another version."""


class MemoryBudgetTooSmall(Insitu4dError, ValueError):
    """A memory budget (``--max-memory-gb``) below what the smallest slab of a reconstruction needs."""

"""insitu4d: quantitative 4D in situ electron tomography of nanoparticles."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("insitu4d")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["__version__"]

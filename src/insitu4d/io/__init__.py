"""Readers and writers."""

from .readers import read_tilt_series
from .tilts import read_tilt_file
from .writers import read_array, write_array, write_csv, write_json, write_tilt_series

__all__ = ["read_tilt_series", "read_tilt_file", "read_array", "write_array", "write_csv", "write_json",
           "write_tilt_series"]

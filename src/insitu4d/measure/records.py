"""Typed measurement records: the base of :class:`~insitu4d.measure.particles.Particle` and
:class:`~insitu4d.measure.necks.Pair`, defined beside the code that measures them.

Each field carries its unit and whether the 4D time series keep it (field metadata), and
each record owns its table columns: a (z, y, x) vector becomes three columns with the axis
before the unit suffix (``centroid_nm`` → ``centroid_z_nm`` …), a label pair two columns
(``label_a``, ``label_b``), the 2D protocol's result its own columns
(:data:`~insitu4d.measure.protocol.PROTOCOL_2D_COLUMNS`). A quantity is therefore added in
one module: a field of the record, given its value in the function beside it that measures it. ``particles.csv``,
``pairs.csv``, ``measurements.json`` and the time series (when ``timeseries=True``) pick it up.
"""

from __future__ import annotations

from dataclasses import field, fields

from .protocol import PROTOCOL_2D_COLUMNS, protocol_2d_columns

__all__ = ["Record", "quantity"]

_AXES = "zyx"


def quantity(unit: str = "", *, kind: str = "scalar", timeseries: bool = True, default=None):
    """A field of a measurement record.

    Parameters
    ----------
    unit : str
        Its unit ("nm", "nm³", "" for a ratio or a count).
    kind : {"scalar", "vector", "image_vector", "labels", "protocol"}
        How it becomes columns: one, three (z, y, x), two (y, x: a position in a 2D frame),
        two (a, b), or the protocol's.
    timeseries : bool
        Whether the 4D time series (``pairs_timeseries.csv``, ``particles_timeseries.csv``)
        carry it.
    default : optional
        A default value (fields without one come first). A quantity added to a record
        takes NaN (not measured), so that code which builds records without it still works.

    Returns
    -------
    dataclasses.Field
    """
    meta = {"unit": unit, "kind": kind, "timeseries": timeseries}
    return field(metadata=meta) if default is None else field(default=default, metadata=meta)


def _vector_columns(name: str, axes: str = _AXES) -> list[str]:
    for suffix in ("_nm",):
        if name.endswith(suffix):
            return [f"{name[: -len(suffix)]}_{a}{suffix}" for a in axes]
    return [f"{name}_{a}" for a in axes]


def _image_vector_columns(name: str) -> list[str]:
    return _vector_columns(name, "yx")


class Record:
    """Columns, rows and JSON for the frozen dataclasses below."""

    @classmethod
    def columns(cls, *, timeseries_only: bool = False) -> list[str]:
        """The table columns, in field order.

        Parameters
        ----------
        timeseries_only : bool
            Only the fields the 4D time series keep.

        Returns
        -------
        list of str
        """
        out: list[str] = []
        for f in fields(cls):
            if timeseries_only and not f.metadata["timeseries"]:
                continue
            kind = f.metadata["kind"]
            out += {"scalar": lambda n: [n], "vector": _vector_columns, "image_vector": _image_vector_columns,
                    "labels": lambda n: ["label_a", "label_b"],
                    "protocol": lambda n: list(PROTOCOL_2D_COLUMNS)}[kind](f.name)
        return out

    @classmethod
    def units(cls) -> dict[str, str]:
        """The unit of each field ("" for ratios and counts).

        Returns
        -------
        dict of str to str
        """
        return {f.name: f.metadata["unit"] for f in fields(cls)}

    def to_row(self) -> dict:
        """The record as one table row (:meth:`columns` → value).

        Returns
        -------
        dict
        """
        row: dict = {}
        for f in fields(self):
            value, kind = getattr(self, f.name), f.metadata["kind"]
            if kind == "scalar":
                row[f.name] = value
            elif kind == "vector":
                row.update(zip(_vector_columns(f.name), value))
            elif kind == "image_vector":
                row.update(zip(_image_vector_columns(f.name), value))
            elif kind == "labels":
                row.update(label_a=value[0], label_b=value[1])
            else:
                row.update(protocol_2d_columns(value))
        return row

    def to_dict(self) -> dict:
        """The record for JSON: field name → value, vectors and label pairs as lists.

        Returns
        -------
        dict
        """
        return {f.name: list(getattr(self, f.name)) if f.metadata["kind"] in ("vector", "image_vector", "labels")
                else getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict):
        """The record from :meth:`to_dict`'s form (e.g. read back from ``measurements.json``).

        Parameters
        ----------
        data : dict
            Keys the record does not have are ignored; missing fields with a default take it.

        Returns
        -------
        Record
            Of the calling class.
        """
        values = {}
        for f in fields(cls):
            if f.name in data:
                v = data[f.name]
                values[f.name] = tuple(v) if f.metadata["kind"] in ("vector", "image_vector", "labels") else v
        return cls(**values)

"""Run a time point again from its record alone (``insitu4d rerun RUN_JSON -o OUT``).

A ``run.json`` holds everything the run depended on: the absolute path and SHA-256 of every
input (the tilt series, the tilt file, a 4D series' previous labels and volume), every
parameter after the automatic choices were fixed, and the random seeds. :func:`rerun_time_point`
checks that each input still holds the recorded bytes and runs
:func:`~insitu4d.pipeline.run.run_tilt_series` with the recorded parameters; on the same
versions (``provenance.libraries``) the numbers come out the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import InvalidParameter, UnreadableFile
from .result import TimePointResult
from .run import run_tilt_series

__all__ = ["rerun_time_point"]


def rerun_time_point(run_json, outdir, *, progress: Callable[[str, int, int], None] | None = None,
                     figures: bool = True) -> TimePointResult:
    """Repeat the run recorded in ``run_json`` into ``outdir``.

    Parameters
    ----------
    run_json : str or Path
        The ``run.json`` of a finished time point.
    outdir : str or Path
        A new output folder (not the recorded run's own).
    progress : callable(stage, done, total), optional
    figures : bool
        Draw ``orthoslices.png``.

    Returns
    -------
    TimePointResult

    Raises
    ------
    UnreadableFile
        ``run_json`` is not a ``run.json`` of this version, an input is gone, or an input no
        longer holds the bytes recorded (the message names the file and what to do).
    InvalidParameter
        ``outdir`` is the recorded run's own folder.
    """
    run_json = Path(run_json)
    record = TimePointResult.load(run_json)
    if Path(outdir).resolve() == run_json.resolve().parent:
        raise InvalidParameter(f"{outdir} is the folder of the run being repeated; give another output folder.")
    for name, recorded in record.inputs.items():
        if recorded.unused:
            continue
        state = recorded.state()
        if state == "missing":
            raise UnreadableFile(f"input '{name}' of {run_json} is gone: {recorded.path}. Restore it to that path.")
        if state == "changed":
            raise UnreadableFile(f"input '{name}' of {run_json} has changed since the run: {recorded.path} no longer "
                                 f"has SHA-256 {recorded.sha256[:12]}…. Restore the original file.")
    path = {name: recorded.path for name, recorded in record.inputs.items() if not recorded.unused}
    return run_tilt_series(path["tilt_series"], outdir, tilts=path.get("tilts"), params=record.parameters,
                           progress=progress, figures=figures, previous_labels=path.get("previous_labels"),
                           previous_volume=path.get("previous_volume"), edx=path.get("edx"))

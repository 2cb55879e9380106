"""The state of an output folder: checked before any work, locked while a run writes to it, marked as running,
finished or failed, and cleaned of what an interrupted run left.

A run's result file (``run.json``, ``experiment.json``) is only ever this run's: an earlier
run's result is moved aside to ``NAME.previous`` when the new run starts, so a run that then
fails cannot leave an old result that looks like its own. ``status.json`` says at every moment
whether the folder holds a finished result (``"state": "finished"``), a run in progress, a
failed one (with its error), or a run that stopped early on purpose without a result
(``"stopped"``: a volume reconstructed ahead of the rest).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path

from .. import __version__
from ..errors import OutputInUse, UnwritableOutput
from .writers import write_json

__all__ = ["check_output_folder", "check_output_file", "output_folder", "LOCK_NAME", "STATUS_NAME"]

LOCK_NAME = ".insitu4d.lock"
STATUS_NAME = "status.json"
#: what :func:`insitu4d.io.writers.atomic_path` names its temporary files: ``.NAME.XXXX.part.EXT``
_PART_GLOB = ".*.part*"


def check_output_folder(path) -> Path:
    """Make sure ``path`` is, or can be made, a writable folder; create it.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Path

    Raises
    ------
    UnwritableOutput
        If ``path`` is a file, or the folder cannot be created or written to.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UnwritableOutput(f"output folder {path} is a file; give a folder name with -o.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UnwritableOutput(f"cannot write to the output folder {path}: {exc.strerror or exc}; "
                               "choose another folder with -o.") from None
    return path


def check_output_file(path, suffixes: tuple[str, ...], what: str) -> Path:
    """Make sure a file can be written at ``path``, with one of ``suffixes``, before any work starts.

    Parameters
    ----------
    path : str or Path
    suffixes : tuple of str
        Accepted file-name endings, lower case with the dot (``(".h5", ".tif")``).
    what : str
        What the file holds, for the message.

    Returns
    -------
    Path

    Raises
    ------
    UnwritableOutput
        If the name has another ending, names a folder, or its folder cannot be written to.
    """
    path = Path(path)
    if path.is_dir():
        raise UnwritableOutput(f"{path} is a folder; give a file name for the {what} "
                               f"({' or '.join(suffixes)}).")
    if path.suffix.lower() not in suffixes:
        raise UnwritableOutput(f"cannot write the {what} as {path.name!r}: use a file name ending in "
                               f"{' or '.join(suffixes)}.")
    check_output_folder(path.parent if str(path.parent) else Path("."))
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _take_lock(lock: Path) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                other = json.loads(lock.read_text())
                pid, host = int(other["pid"]), str(other["host"])
            except (OSError, ValueError, KeyError, TypeError):
                other, pid, host = {}, None, None
            if pid is not None and host == record["host"] and not _alive(pid):
                lock.unlink(missing_ok=True)  # left by a process that has ended: stale
                continue
            who = f"process {pid} on {host}, started {other.get('started')}" if pid is not None else "another process"
            raise OutputInUse(f"{lock.parent} is in use by {who}; wait for it to finish or choose another folder "
                              f"with -o (if no run is going on, delete {lock}).") from None
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        return
    raise OutputInUse(f"could not take the lock {lock}; delete it if no run is going on.")


def _write_status(folder: Path, state: str, started: str, **extra) -> None:
    write_json(folder / STATUS_NAME, {"state": state, "software": {"name": "insitu4d", "version": __version__},
                                      "pid": os.getpid(), "started": started, **extra})


@contextlib.contextmanager
def output_folder(path, result_name: str):
    """Hold an output folder for one run: lock, clean, mark in progress; mark finished or failed at the end.

    On entry: the folder is checked and created (:func:`check_output_folder`), its lock is
    taken, temporary files of an interrupted write (``.*.part*``, in it and below it) are
    removed, an earlier ``result_name`` is renamed ``result_name.previous``, and
    ``status.json`` says ``"running"``. On a normal exit ``status.json`` says
    ``"finished"``; on an exception (an interruption included) ``"failed"`` with the
    error. The lock is released either way.

    Parameters
    ----------
    path : str or Path
    result_name : str
        The file whose presence means a finished run (``"run.json"``, ``"experiment.json"``).

    Yields
    ------
    Path
        The folder.

    Raises
    ------
    UnwritableOutput
        If the folder cannot be created or written to.
    OutputInUse
        If another running process holds its lock.
    """
    folder = check_output_folder(path)
    lock = folder / LOCK_NAME
    _take_lock(lock)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        for part in folder.rglob(_PART_GLOB):
            if part.is_file():
                part.unlink(missing_ok=True)
        result = folder / result_name
        if result.is_file():
            os.replace(result, folder / f"{result_name}.previous")
        _write_status(folder, "running", started)
        try:
            yield folder
        except BaseException as exc:
            with contextlib.suppress(OSError):
                _write_status(folder, "failed", started, error=f"{type(exc).__name__}: {exc}",
                              ended=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            raise
        # a run may stop early on purpose (a time point reconstructed ahead of its segmentation): no result yet
        _write_status(folder, "finished" if result.is_file() else "stopped", started,
                      ended=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    finally:
        lock.unlink(missing_ok=True)

"""Outputs that cannot lie: the output folder's lock, status, clean-up, and what a resume may reuse."""

import json
import os
import socket

import pytest

from insitu4d import __version__
from insitu4d.errors import OutputInUse, UnwritableOutput
from insitu4d.io.output_folder import LOCK_NAME, STATUS_NAME, check_output_file, check_output_folder, output_folder


def test_a_second_run_on_a_held_folder_is_refused_with_the_holder(tmp_path):
    with output_folder(tmp_path, "run.json"):
        with pytest.raises(OutputInUse, match=f"in use by process {os.getpid()} on {socket.gethostname()}"):
            with output_folder(tmp_path, "run.json"):
                pass
    assert not (tmp_path / LOCK_NAME).exists()  # released


def test_a_stale_lock_of_an_ended_process_is_taken_over(tmp_path):
    dead = 2 ** 22 + 12345  # above Linux's pid_max default: no such process
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "x"}))
    with output_folder(tmp_path, "run.json"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_lock_from_another_host_is_respected(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "x"}))
    with pytest.raises(OutputInUse, match="process 1 on elsewhere"):
        with output_folder(tmp_path, "run.json"):
            pass


def test_status_says_running_then_finished(tmp_path):
    with output_folder(tmp_path, "run.json"):
        status = json.loads((tmp_path / STATUS_NAME).read_text())
        assert status["state"] == "running" and status["software"]["version"] == __version__
        (tmp_path / "run.json").write_text("{}")
    assert json.loads((tmp_path / STATUS_NAME).read_text())["state"] == "finished"
    # a run that ends without its result (a volume made ahead of the rest) is "stopped", not "finished"
    with output_folder(tmp_path / "ahead", "run.json"):
        pass
    assert json.loads((tmp_path / "ahead" / STATUS_NAME).read_text())["state"] == "stopped"


def test_an_interruption_marks_the_folder_failed_and_moves_the_old_result_aside(tmp_path):
    (tmp_path / "experiment.json").write_text('{"old": true}')
    with pytest.raises(KeyboardInterrupt):
        with output_folder(tmp_path, "experiment.json"):
            raise KeyboardInterrupt
    status = json.loads((tmp_path / STATUS_NAME).read_text())
    assert status["state"] == "failed" and status["error"].startswith("KeyboardInterrupt")
    assert not (tmp_path / "experiment.json").exists()
    assert json.loads((tmp_path / "experiment.json.previous").read_text()) == {"old": True}
    assert not (tmp_path / LOCK_NAME).exists()


def test_orphan_part_files_are_removed_and_others_kept(tmp_path):
    (tmp_path / "T01").mkdir()
    orphans = [tmp_path / ".volume.h5.abc123.part.h5", tmp_path / "T01" / ".labels.h5.x1.part.h5"]
    for p in orphans:
        p.write_bytes(b"half")
    keep = tmp_path / "T01" / "volume.h5"
    keep.write_bytes(b"whole")
    with output_folder(tmp_path, "run.json"):
        assert not any(p.exists() for p in orphans)
    assert keep.read_bytes() == b"whole"


def test_output_paths_are_checked(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(UnwritableOutput, match="is a file"):
        check_output_folder(f)
    with pytest.raises(UnwritableOutput, match="is a file"):
        check_output_file(f / "v.h5", (".h5",), "volume")
    with pytest.raises(UnwritableOutput, match=r"ending in \.h5 or \.tif"):
        check_output_file(tmp_path / "v.mrc", (".h5", ".tif"), "volume")
    assert check_output_file(tmp_path / "new" / "v.h5", (".h5",), "volume").parent.is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UnwritableOutput, match="cannot write to the output folder"):
            check_output_folder(ro / "out")
    finally:
        ro.chmod(0o700)

"""A killed run's shared files are swept; a live run's and anything without our mark are left alone."""

import subprocess
import tempfile

import pytest

from macvlan_conformance import run_files


@pytest.fixture
def tmpdir_as_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_sweep_removes_only_the_files_of_runs_whose_controller_is_gone(tmpdir_as_tmp):
    live = run_files.create("0000aaaa")  # this process is its controller
    dead = run_files.create("0000bbbb")
    gone = subprocess.Popen(["true"])
    gone.wait()
    (dead / "controller.pid").write_text(str(gone.pid))
    unmarked = tmpdir_as_tmp / "macvlan-conformance-notarun"
    unmarked.mkdir()
    assert run_files.sweep() == ["0000bbbb"]
    assert live.exists() and unmarked.exists() and not dead.exists()
    run_files.remove("0000aaaa")
    assert not live.exists()

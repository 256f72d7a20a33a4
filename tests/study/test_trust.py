"""The study folder's trust boundary (study.trust): its pickled state is written 0600 in a 0700
folder, and ``--resume`` loads nothing that another user could have written — a planted pickle in
a group-writable file, a foreign owner or a symbolic link is refused before Ray Tune reads it."""

import os
import pickle

import pytest

from study.config import make_config
from study.driver import save_config
from study.run import main as run_main
from study.trust import UntrustedState, check_study_folder, dump_private, load_trusted


class Planted:
    """A pickle that, once loaded, writes a marker file: what a tampered state file could run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def study(tmp_path, name="trusted"):
    config = make_config("quick", overrides={"name": name, "root": str(tmp_path / "runs")})
    save_config(config)
    os.makedirs(os.path.join(config.study_dir, "tune", "run_trial_1"))
    dump_private({"groups": {}}, os.path.join(config.study_dir, "tune", "searcher-state.pkl"))
    return config.study_dir


def test_state_is_written_private_and_loaded_only_from_the_owners_files(tmp_path):
    path = str(tmp_path / "state.pkl")
    dump_private({"rungs": [1, 2]}, path)
    assert os.stat(path).st_mode & 0o777 == 0o600 and load_trusted(path) == {"rungs": [1, 2]}
    dump_private({"rungs": [3]}, path)  # replaced, still private
    assert os.stat(path).st_mode & 0o777 == 0o600 and load_trusted(path) == {"rungs": [3]}
    marker = tmp_path / "ran"
    with open(path, "wb") as handle:
        pickle.dump(Planted(str(marker)), handle)
    for mode in (0o620, 0o602):
        os.chmod(path, mode)
        with pytest.raises(UntrustedState, match="writable by group or others"):
            load_trusted(path)
    os.chmod(path, 0o600)
    os.symlink(path, tmp_path / "link.pkl")
    with pytest.raises(UntrustedState, match="symbolic link"):
        load_trusted(str(tmp_path / "link.pkl"))
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        with pytest.raises(UntrustedState, match="uid 65534"):
            load_trusted(path)
    assert not marker.exists()


def test_a_study_folder_is_checked_whole(tmp_path):
    folder = study(tmp_path)
    assert os.stat(folder).st_mode & 0o777 == 0o700
    check_study_folder(folder)  # as the study wrote it
    trial = os.path.join(folder, "tune", "run_trial_1")
    os.chmod(trial, 0o777)
    with pytest.raises(UntrustedState, match="run_trial_1 is writable"):
        check_study_folder(folder)
    os.chmod(trial, 0o755)
    later = os.path.join(folder, "tune-2", "run_trial_2")  # an extension's stage (study.extend)
    os.makedirs(later)
    os.chmod(later, 0o775)
    with pytest.raises(UntrustedState, match="tune-2/run_trial_2 is writable"):
        check_study_folder(folder)
    os.chmod(later, 0o755)
    os.chmod(tmp_path / "runs", 0o777)  # anyone could swap the study folder
    with pytest.raises(UntrustedState, match="writable by anyone"):
        check_study_folder(folder)
    os.chmod(tmp_path / "runs", 0o1777)  # sticky, as /tmp: only its owner may rename it
    check_study_folder(folder)


def test_resume_refuses_a_tampered_study_before_loading_it(tmp_path, capsys):
    folder = study(tmp_path, "tampered")
    marker = tmp_path / "ran"
    planted = os.path.join(folder, "tune", "tuner.pkl")
    with open(planted, "wb") as handle:
        pickle.dump(Planted(str(marker)), handle)
    os.chmod(planted, 0o666)
    assert run_main(["--resume", "tampered", "--root", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "tuner.pkl is writable by group or others" in err and "chmod -R go-w" in err
    assert not marker.exists()

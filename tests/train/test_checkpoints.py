"""Checkpoints are atomic and verified: a damaged one is named, skipped for the newest one that
loads, and ``python -m train --resume-from DAMAGED`` ends with one line naming the file."""

import json
import logging
import os
import subprocess
import sys

import pytest

from tests.train.test_trial import tiny
from train.checkpoints import (
    META_FILE,
    STATE_FILE,
    CheckpointError,
    checkpoints_in,
    resolve_resume,
    verify_checkpoint,
    write_checkpoint_folder,
)
from train.steps import COMPLETED
from train.trial import train_and_evaluate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A trial's checkpoint folder with step_00000020 and step_00000040."""
    folder = tmp_path_factory.mktemp("ck")
    result = train_and_evaluate(tiny(steps=40, report_every=10, checkpoint_every=20, batch_size=16),
                                checkpoint_dir=str(folder))
    assert result.status == COMPLETED
    assert sorted(os.listdir(folder)) == ["step_00000020", "step_00000040"]  # no temporary left
    return folder


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def truncate_state(folder):
    path = os.path.join(folder, STATE_FILE)
    assert os.path.getsize(path) > 100_000
    with open(path, "r+b") as handle:
        handle.truncate(100_000)


def garble_meta(folder):
    with open(os.path.join(folder, META_FILE), "w") as handle:
        handle.write('{"format": 1, "step": 4')


def wrong_version(folder):
    path = os.path.join(folder, META_FILE)
    meta = json.load(open(path))
    meta["format"] = 99
    json.dump(meta, open(path, "w"))


DAMAGE = {"truncated": (truncate_state, STATE_FILE, "truncated or corrupt"),
          "garbled": (garble_meta, META_FILE, "unreadable or garbled"),
          "version": (wrong_version, META_FILE, "checkpoint format 99, this code reads format 1")}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_checkpoint_is_named_and_skipped_for_the_newest_that_loads(kind, written, tmp_path, caplog):
    damage, file, problem = DAMAGE[kind]
    folder = _copy(written, tmp_path / "ck")
    damage(folder / "step_00000040")
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(str(folder / "step_00000040"))
    assert str(info.value).startswith(f"{folder / 'step_00000040' / file}: {problem}")
    with caplog.at_level(logging.WARNING, logger="train.checkpoints"):
        path, state, _ = resolve_resume(str(folder))
    assert path == str(folder / "step_00000020") and state["step"] == 20
    assert f"skipping damaged checkpoint {folder / 'step_00000040' / file}" in caplog.text
    # a trial resumed from the folder continues from the good one
    resumed = train_and_evaluate(tiny(steps=40, report_every=10, checkpoint_every=20, batch_size=16),
                                 resume_from=str(folder))
    assert resumed.status == COMPLETED and resumed.step == 40


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_cli_resume_from_damaged_ends_with_one_line(kind, written, tmp_path):
    damage, file, problem = DAMAGE[kind]
    folder = _copy(written / "step_00000040", tmp_path / "step_00000040")
    damage(folder)
    out = subprocess.run([sys.executable, "-m", "train", "--steps", "40", "--batch-size", "16",
                          "--latent-dim", "4", "--resume-from", str(folder), "--quiet"],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()
    assert len(last) == 1, out.stderr
    assert last[0].startswith(f"error: --resume-from: {folder / file}: {problem}")


def test_a_crash_before_the_rename_leaves_no_visible_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "ck" / "step_00000010"

    def crash(src, dst):
        raise OSError("simulated crash between writing and renaming")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_checkpoint_folder(str(target), {STATE_FILE: b"x" * 1000, META_FILE: b"{}"})
    monkeypatch.undo()
    assert not target.exists()
    assert checkpoints_in(str(tmp_path / "ck")) == []
    # a temporary left by a killed writer (no cleanup ran) is ignored, then removed by the next write
    stale = tmp_path / "ck" / ".tmp-step_00000010-abc"
    stale.mkdir()
    (stale / STATE_FILE).write_bytes(b"partial")
    assert checkpoints_in(str(tmp_path / "ck")) == []
    with pytest.raises(CheckpointError, match="no checkpoint in it loads"):
        resolve_resume(str(tmp_path / "ck"))
    other = tmp_path / "ck" / ".tmp-step_00000020-def"  # another write in progress: left alone
    other.mkdir()
    write_checkpoint_folder(str(target), {STATE_FILE: b"y", META_FILE: b"{}"})
    assert sorted(os.listdir(tmp_path / "ck")) == [".tmp-step_00000020-def", "step_00000010"]
    os.utime(other, (0, 0))  # ... unless it is an hour old: a crashed write's
    write_checkpoint_folder(str(target), {STATE_FILE: b"y", META_FILE: b"{}"})
    assert sorted(os.listdir(tmp_path / "ck")) == ["step_00000010"]
    write_checkpoint_folder(str(target), {STATE_FILE: b"z", META_FILE: b"{}"})  # rewritten in place
    assert (target / STATE_FILE).read_bytes() == b"z"
    assert sorted(os.listdir(tmp_path / "ck")) == ["step_00000010"]

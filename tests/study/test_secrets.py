"""No secret in a file or a log: the study's ``secrets:`` fields and URI passwords are redacted from
``<study>/config.yaml`` (and asked for again at ``--resume``), every checkpoint's ``meta.json``,
MLflow params and tags, the tracking buffer and the printed lines."""

import dataclasses
import json
import os

import torch
from mlflow.tracking import MlflowClient

from analysis.redaction import REDACTED
from analysis.schema import Tag
from study import tracking
from study.config import make_config
from study.driver import save_config
from study.run import main as run_main
from study.sync import main as sync_main
from train.checkpoints import read_checkpoint_meta, save_checkpoint
from train.trial import train_and_evaluate
from train.validation import trial_from_dict

PASSWORD = "pw-Hunter2-secret"


def study_config(tmp_path):
    folder = tmp_path / f"data-{PASSWORD}"  # a secret path: e.g. a mount named after a key
    folder.mkdir()
    return make_config("quick", overrides={
        "name": "sec", "root": str(tmp_path / "runs"), "tracking_uri": f"http://me:{PASSWORD}@127.0.0.1:9",
        "secrets": ["data_root"], "trial": {"data_root": str(folder)}}), str(folder)


def test_config_yaml_is_redacted_and_resume_asks_for_the_secrets_again(tmp_path, capsys):
    config, folder = study_config(tmp_path)
    text = open(save_config(config)).read()
    assert PASSWORD not in text and f"data_root: '{REDACTED}'" in text and f"http://me:{REDACTED}@" in text
    root = str(tmp_path / "runs")
    assert run_main(["--resume", "sec", "--root", root, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "tracking_uri, trial.data_root redacted" in err and "--set tracking_uri=VALUE" in err
    assert run_main(["--resume", "sec", "--root", root, "--dry-run", "--data-root", folder,
                     "--tracking-uri", f"http://me:{PASSWORD}@127.0.0.1:9"]) == 0
    out = capsys.readouterr()
    assert "# tracking: http://me:***@127.0.0.1:9" in out.out and PASSWORD not in out.out + out.err


def test_dry_run_prints_no_secret(tmp_path, capsys):
    config, folder = study_config(tmp_path)
    argv = ["--dry-run", "--name", "sec", "--root", str(tmp_path / "runs"), "--data-root", folder,
            "--tracking-uri", config.tracking_uri, "--set", "secrets=[data_root]"]
    assert run_main(argv) == 0
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err and f"data_root: '{REDACTED}'" in out.out


def test_checkpoint_meta_is_redacted(tmp_path):
    (tmp_path / PASSWORD).mkdir()
    trial = trial_from_dict({"model_type": "vae", "latent_dim": 2, "data_root": str(tmp_path / PASSWORD)})
    model = torch.nn.Linear(2, 2)
    path = save_checkpoint(str(tmp_path / "ck"), model, torch.optim.Adam(model.parameters()), 3,
                           torch.Generator(), trial, secrets=("data_root",))
    meta = read_checkpoint_meta(path)
    assert meta["config"]["data_root"] == REDACTED and PASSWORD not in open(os.path.join(path, "meta.json")).read()
    assert meta["config"]["latent_dim"] == 2
    # a trial hands its study's secrets to every checkpoint it writes
    tiny = trial_from_dict({"model_type": "ae", "latent_dim": 2, "batch_size": 16, "steps": 4, "report_every": 2,
                            "checkpoint_every": 2, "val_size": 32, "eval_size": 32, "metrics": "recon",
                            "num_threads": 1})
    result = train_and_evaluate(tiny, checkpoint_dir=str(tmp_path / "trial"), secrets=("dataset",))
    assert read_checkpoint_meta(result.checkpoint)["config"]["dataset"] == REDACTED
    assert dataclasses.asdict(tiny)["dataset"] != REDACTED


def test_params_tags_and_buffer_carry_no_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = tracking.start_study_run(uri, "betasweep", "s", {"tracking_uri": f"http://me:{PASSWORD}@h"},
                                      {"origin": f"s3://key:{PASSWORD}@bucket/x"})
    t = tracking.TrialTracker(uri, "betasweep", parent, "s", "t1", buffer_dir=str(tmp_path / "buf" / "t1"),
                              secrets=("data_root",), background=False)
    run_id = t.start({"model_type": "ae", "data_root": "/d", "src": f"https://u:{PASSWORD}@h/f"},
                     extra_tags={"note": f"postgresql://u:{PASSWORD}@db/m", "data_root": "/d"})
    t.finish("completed")
    client = MlflowClient(uri)
    for run in (client.get_run(parent), client.get_run(run_id)):
        logged = json.dumps({**run.data.params, **run.data.tags})
        assert PASSWORD not in logged and "data_root" not in logged
    assert client.get_run(run_id).data.params["src"] == "https://u:***@h/f"
    assert client.get_run(run_id).data.tags[Tag.TRIAL_ID] == "t1"
    # a buffer written while the server is down records the URI without its password ...
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = tracking.TrialTracker(f"http://me:{PASSWORD}@127.0.0.1:9", "betasweep", parent, "s", "t2",
                                 buffer_dir=str(tmp_path / "study" / "t2"), background=False)
    down.start({"model_type": "ae"})
    assert PASSWORD not in open(tmp_path / "study" / "t2" / "buffer.jsonl").read()
    # ... so `study.sync` asks for the URI instead of sending the calls to a server without a login
    assert sync_main([str(tmp_path / "study")]) == 2
    assert sync_main([str(tmp_path / "study"), "--tracking-uri", uri]) == 0

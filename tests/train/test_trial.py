"""One trial end to end on CPU: the loss falls, checkpoints resume exactly, NaN → diverged."""

import os

import pytest
import torch

from analysis.schema import Artifact, TrialStatus
from train.checkpoints import load_checkpoint_model, read_checkpoint_meta
from train.cli import main
from train.options import Amp
from train.steps import COMPLETED, DIVERGED, FORCE_NAN_ENV
from train.trial import train_and_evaluate
from train.validation import trial_from_dict

TINY = dict(model_type="beta_vae", beta=2.0, latent_dim=4, batch_size=32, lr=1e-3, steps=200,
            report_every=50, checkpoint_every=100, val_size=64, eval_size=64, metrics="recon",
            num_threads=1)


def tiny(**changes):
    return trial_from_dict({**TINY, **changes})


def test_tiny_trial_trains_and_scores():
    reports = []
    result = train_and_evaluate(tiny(), callback=reports.append)
    assert result.status == COMPLETED and result.step == 200
    losses = [h["train/loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.9, losses
    assert [r.step for r in reports] == [50, 100, 150, 200, 200] and reports[-1].final
    for key in ("recon_error", "recon_mse", "blur", "eval_loss", "eval_kl", "kl_dim_0", "train_seconds"):
        assert key in result.scores, key
    assert result.scores["recon_error"] > 0


def test_a_trial_times_its_phases_and_writes_every_artifact(tmp_path):
    """Every phase is timed (the overhead benchmark reads them), the UDR codes are written while
    scoring, and the files a completed trial logs are all there."""
    import time

    import numpy as np

    start = time.perf_counter()
    result = train_and_evaluate(tiny(steps=100), checkpoint_dir=str(tmp_path / "ck"),
                                artifact_dir=str(tmp_path / "art"), callback=lambda report: None)
    wall = time.perf_counter() - start
    phases = result.timings.seconds
    assert {"setup", "steps", "validation", "checkpoints", "reports", "scoring", "artifacts"} <= set(phases)
    assert all(v >= 0 for v in phases.values()) and sum(phases.values()) <= wall
    assert set(result.artifacts) == {Artifact.RECONSTRUCTIONS, Artifact.SAMPLES, Artifact.TRAVERSALS,
                                     f"{Artifact.MODEL_DIR}/{Artifact.MODEL_FILE}", Artifact.UDR_CODES}
    assert all(os.path.isfile(f) and f.startswith(str(tmp_path / "art")) for f in result.artifacts.values())
    codes = np.load(result.artifacts[Artifact.UDR_CODES])
    assert codes["codes"].shape == (1000, 4) and codes["kl"].shape == (4,)


def test_checkpoint_resumes_to_the_same_state(tmp_path):
    full = train_and_evaluate(tiny(), checkpoint_dir=str(tmp_path / "a"))
    ckpt = tmp_path / "a" / "step_00000100"
    assert read_checkpoint_meta(str(ckpt))["step"] == 100
    resumed_reports = []
    resumed = train_and_evaluate(tiny(), checkpoint_dir=str(tmp_path / "b"), resume_from=str(ckpt),
                                 callback=resumed_reports.append, extra_state={"note": "x"})
    assert resumed_reports[0].step == 150
    assert resumed.step == 200
    assert resumed.history[-1]["train/loss"] == pytest.approx(full.history[-1]["train/loss"], rel=1e-5)
    full_model, _ = load_checkpoint_model(full.checkpoint)
    resumed_model, _ = load_checkpoint_model(resumed.checkpoint)
    for (name, a), (_, b) in zip(full_model.state_dict().items(), resumed_model.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    assert read_checkpoint_meta(str(tmp_path / "b" / "step_00000200"))["extra"] == {"note": "x"}


def test_forced_nan_yields_diverged_not_an_exception(monkeypatch):
    monkeypatch.setenv(FORCE_NAN_ENV, "30")
    reports = []
    result = train_and_evaluate(tiny(), callback=reports.append)
    assert result.status == DIVERGED
    assert result.step == 50  # detected at the first report after the NaN
    assert reports[-1].final and "recon_error" not in result.scores


def test_cli_prints_result_table(capsys, tmp_path):
    code = main(["--model-type", "vae", "--latent-dim", "3", "--steps", "20", "--report-every", "10",
                 "--batch-size", "16", "--val-size", "32", "--eval-size", "32", "--metrics", "recon",
                 "--checkpoint-dir", str(tmp_path), "--artifact-dir", str(tmp_path / "art"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "status" in out and TrialStatus.COMPLETED in out and "recon_error" in out
    assert any(line.split()[:1] == ["precision"] and line.split()[1] in ("bf16", "fp32") for line in out.splitlines())
    assert os.path.isdir(tmp_path / "step_00000020")
    for artifact in (Artifact.RECONSTRUCTIONS, Artifact.SAMPLES, Artifact.TRAVERSALS, "model/model.pt"):
        assert os.path.getsize(tmp_path / "art" / artifact) > 0, artifact


def test_cli_help_lists_every_field(capsys):
    """argparse formats help with %: a field doc that quotes a percentage must not break --help."""
    import dataclasses

    from train.config import TrialConfig

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    flags = [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(TrialConfig) if f.name != "model_params"]
    assert all(flag in out for flag in flags)


def test_cli_rejects_bad_field(capsys):
    assert main(["--latent-dim", "0"]) == 2
    assert "trial.latent_dim: must be >= 1" in capsys.readouterr().err


ZOO = ("ae", "vae", "beta_vae", "beta_tcvae", "annealed_vae", "factor_vae", "dip_vae_i", "dip_vae_ii")


def test_the_zoo_is_what_is_registered():
    from models import MODELS

    assert set(MODELS) == set(ZOO)


@pytest.mark.parametrize("model_type", ZOO)
def test_every_model_type_resumes_to_the_same_state(model_type, tmp_path):
    """Weights, optimiser moments (the discriminator's own for FactorVAE), AnnealedVAE's step
    counter and the RNG streams all come back: the resumed run ends where the uninterrupted one does."""
    small = dict(model_type=model_type, steps=40, report_every=10, checkpoint_every=20, batch_size=16)
    config = trial_from_dict({**{k: v for k, v in TINY.items() if k != "beta"}, **small})
    full = train_and_evaluate(config, checkpoint_dir=str(tmp_path / "a"))
    resumed = train_and_evaluate(config, checkpoint_dir=str(tmp_path / "b"),
                                 resume_from=str(tmp_path / "a" / "step_00000020"))
    assert full.status == resumed.status == COMPLETED and resumed.step == 40
    assert resumed.history[-1]["train/loss"] == pytest.approx(full.history[-1]["train/loss"], rel=1e-5)
    full_model, meta = load_checkpoint_model(full.checkpoint)
    resumed_model, _ = load_checkpoint_model(resumed.checkpoint)
    for (name, a), (_, b) in zip(full_model.state_dict().items(), resumed_model.state_dict().items(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    if model_type == "factor_vae":
        state = torch.load(os.path.join(full.checkpoint, "state.pt"), weights_only=True)
        assert state["auxiliary_optimizer"]["state"], "the discriminator's Adam moments are checkpointed"
        assert "train/disc_loss" in full.history[-1]
    if model_type == "annealed_vae":
        assert int(full_model.train_step) == 40 and meta["model_config"]["iteration_threshold"] == 13


@pytest.mark.parametrize("amp,native,expected", [("true", False, "bf16"), ("false", True, "fp32"),
                                                 ("auto", True, "bf16"), ("auto", False, "fp32")])
def test_the_trial_trains_in_the_resolved_precision(monkeypatch, amp, native, expected):
    """amp resolves per node (auto, for a type whose science table agreed: native bf16 here or not);
    the networks run in it, the result says it."""
    from models import MODELS
    from train import device
    from train.steps import train_step
    from train.trial_run import precision_for, setup

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(MODELS["factor_vae"], "bf16_under_auto", True)
    config = trial_from_dict({**{k: v for k, v in TINY.items() if k != "beta"}, "model_type": "factor_vae",
                              "amp": amp, "steps": 20, "report_every": 10})
    assert precision_for(config) == expected
    run = setup(config)
    dtypes = []
    run.model.decoder.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    train_step(run, run.model, {})
    assert run.precision == expected and dtypes == [torch.bfloat16 if expected == "bf16" else torch.float32]
    result = train_and_evaluate(config)
    assert result.status == COMPLETED and result.precision == expected


def test_conv_weights_are_channels_last_on_cpu_unless_turned_off():
    from train.trial_run import setup

    def layouts(config):
        convs = [m.weight for m in setup(config).model.modules()  # 1 input channel: both layouts at once
                 if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m.weight.shape[1] > 1]
        return {w.is_contiguous(memory_format=torch.channels_last) for w in convs}

    assert layouts(tiny()) == {True} and layouts(tiny(channels_last=False)) == {False}


def test_auto_trains_a_type_in_bf16_only_once_its_science_table_agreed(monkeypatch):
    from models import MODELS
    from train import device
    from train.trial_run import precision_for

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert not any(cls.bf16_under_auto for cls in MODELS.values())  # no science table agrees yet
    vae = trial_from_dict({"model_type": "vae"})
    assert precision_for(vae) == "fp32" and precision_for(vae.with_updates(amp=Amp.ON)) == "bf16"
    monkeypatch.setattr(MODELS["vae"], "bf16_under_auto", True)  # a type whose table agreed
    assert precision_for(vae) == "bf16" and precision_for(vae.with_updates(amp=Amp.OFF)) == "fp32"

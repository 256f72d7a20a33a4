"""Device choice, and fractional-GPU packing checked with Ray's logical GPUs on a CPU machine."""

import time

import pytest
import torch

from study.device import assigned_gpu_ids, autocast, maybe_compile, select_device


def test_no_gpu_requested_never_grabs_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device(0).type == "cpu"
    assert select_device(0.5).type == "cuda"
    assert select_device(0.5, "cpu").type == "cpu"
    with pytest.raises(ValueError, match="device: cuda was asked for but the trial holds no GPU"):
        select_device(0, "cuda")


def test_assigned_gpu_without_cuda_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(0.25).type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        select_device(0.25, "cuda")
    with pytest.raises(ValueError, match="device: unknown device 'tpu'"):
        select_device(0, "tpu")


def test_amp_and_compile_are_ignored_on_cpu():
    model = torch.nn.Linear(2, 2)
    assert maybe_compile(model, True, torch.device("cpu")) is model
    with autocast(torch.device("cpu"), True):
        assert torch.ones(2).dtype == torch.float32


@pytest.mark.integration
def test_fractional_gpus_pack_two_trials_per_logical_gpu(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_ADDRESS", "local")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import tune

    def trial(config):
        start = time.time()
        ids = assigned_gpu_ids()
        time.sleep(3)
        tune.report({"ids": ",".join(ids), "start": start, "end": time.time(),
                     "device": str(select_device(config["gpus"], "cpu" if config["gpus"] == 0 else "auto"))})

    ray.init(num_cpus=4, num_gpus=2, include_dashboard=False)
    try:
        results = tune.Tuner(tune.with_resources(trial, {"cpu": 1, "gpu": 0.5}),
                             param_space={"gpus": 0.5},
                             tune_config=tune.TuneConfig(num_samples=4),
                             run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
        rows = [r.metrics for r in results]
        assert sorted(r["ids"] for r in rows) == ["0", "0", "1", "1"]
        latest_start = max(r["start"] for r in rows)
        assert all(r["end"] > latest_start for r in rows)  # all four ran at the same time
        none = tune.Tuner(tune.with_resources(trial, {"cpu": 1, "gpu": 0}), param_space={"gpus": 0},
                          run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
        assert none[0].metrics["ids"] == "" and none[0].metrics["device"] == "cpu"
    finally:
        ray.shutdown()

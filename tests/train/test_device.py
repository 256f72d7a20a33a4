"""Device choice, and fractional-GPU packing checked with Ray's logical GPUs on a CPU machine."""

import os
import time

import pytest
import torch

from analysis.schema import Precision
from train import device as device_module
from train.device import (
    assigned_gpu_ids,
    autocast,
    maybe_compile,
    resolve_precision,
    select_device,
    use_channels_last,
)
from train.options import Amp


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


def test_compile_is_ignored_on_cpu_and_autocast_follows_the_precision():
    model = torch.nn.Linear(2, 2)
    cpu = torch.device("cpu")
    assert maybe_compile(model, True, cpu) is model
    with autocast(cpu, Precision.BF16):
        assert model(torch.ones(1, 2)).dtype == torch.bfloat16
    with autocast(cpu, Precision.FP32):
        assert model(torch.ones(1, 2)).dtype == torch.float32
    with autocast(cpu, True):  # a bool reads as bf16 / fp32
        assert model(torch.ones(1, 2)).dtype == torch.bfloat16


def test_channels_last_on_cpu_only():
    conv = torch.nn.Conv2d(2, 4, 3)
    assert use_channels_last(conv, True, torch.device("cpu")).weight.is_contiguous(memory_format=torch.channels_last)
    plain = torch.nn.Conv2d(2, 4, 3)
    assert not use_channels_last(plain, False, torch.device("cpu")).weight.is_contiguous(
        memory_format=torch.channels_last)
    assert use_channels_last(plain, True, torch.device("cuda", 0)) is plain  # not measured on CUDA: untouched
    assert not plain.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("native", [True, False])
def test_amp_resolves_to_a_precision(monkeypatch, native):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native)
    cpu, auto = torch.device("cpu"), Precision.BF16 if native else Precision.FP32
    assert resolve_precision(Amp.AUTO, cpu) is auto and resolve_precision("auto", cpu) is auto
    assert resolve_precision(Amp.AUTO, cpu, auto_bf16=False) is Precision.FP32  # a type that keeps fp32
    assert resolve_precision(Amp.ON, cpu) is Precision.BF16 and resolve_precision(Amp.OFF, cpu) is Precision.FP32
    assert resolve_precision(Amp.ON, cpu, auto_bf16=False) is Precision.BF16  # true forces it
    for bf16_gpu in (True, False):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda bf16_gpu=bf16_gpu: bf16_gpu)
        expected = Precision.BF16 if bf16_gpu else Precision.FP32
        assert resolve_precision(Amp.AUTO, torch.device("cuda", 0)) is expected


def test_native_bf16_probe_agrees_with_the_kernel_flags(monkeypatch):
    """torch's probe and /proc/cpuinfo give the same answer here; without the probe the flags decide."""
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo")
    with open("/proc/cpuinfo") as handle:
        flags = set(handle.read().split())
    from_flags = bool(flags & set(device_module.BF16_CPU_FLAGS))
    device_module.cpu_has_native_bf16.cache_clear()
    try:
        assert device_module.cpu_has_native_bf16() is from_flags
        monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
        device_module.cpu_has_native_bf16.cache_clear()
        assert device_module.cpu_has_native_bf16() is from_flags
    finally:
        device_module.cpu_has_native_bf16.cache_clear()


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

"""A trial flushes denormal floats to zero in every intra-op thread: from the command line (a fresh
process), in a Ray Tune worker (the runner thread), and the probe sees a flag set too late.

The flag is per thread and torch's OpenMP pool copies it when its workers start, so each check runs
in a thread (or process) whose pool has not started yet; :func:`train.device.denormals_flushed`
multiplies 1e-20 by itself in one chunk per thread and counts the results that came out 0.
"""

import json
import logging
import subprocess
import sys
import threading

import pytest
import torch

from train.device import configure_cpu, denormals_flushed
from train.validation import trial_from_dict

TWO_THREADS = {"model_type": "vae", "latent_dim": 3, "num_threads": 2, "steps": 10}

openmp_only = pytest.mark.skipif("parallel backend: OpenMP" not in torch.__config__.parallel_info(),
                                 reason="the per-thread inheritance checked here is OpenMP's")
needs_ftz = pytest.mark.skipif(not torch.set_flush_denormal(False), reason="no flush-to-zero on this CPU")


def in_fresh_thread(fn):
    """fn's result, run in a new thread (its own intra-op pool, the flag it inherits cleared)."""
    out = []

    def target():
        torch.set_flush_denormal(False)
        out.append(fn())

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return out[0]


@needs_ftz
@pytest.mark.parametrize("flush", [True, False])
def test_trial_process_flushes_in_every_thread(flush):
    code = ("import json, sys; from train.validation import trial_from_dict; from train.trial_run import setup; "
            "from train.device import denormals_flushed; import torch; "
            "setup(trial_from_dict(json.loads(sys.argv[1]))); "
            "print(json.dumps([denormals_flushed(), torch.get_num_threads()]))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps({**TWO_THREADS, "flush_denormal": flush})],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    flushed, threads = json.loads(done.stdout.splitlines()[-1])
    assert threads == 2
    assert flushed == (1.0 if flush else 0.0)


@needs_ftz
@openmp_only
def test_setup_in_a_new_thread_flushes_its_whole_pool():
    from train.trial_run import setup

    def trial_then_probe():
        run = setup(trial_from_dict(TWO_THREADS))
        x = run.data.train_batch(4, run.generator)
        tiny = torch.full_like(x, 1e-20) * torch.full_like(x, 1e-20)
        return denormals_flushed(), bool((tiny == 0).all())

    assert in_fresh_thread(trial_then_probe) == (1.0, True)


@needs_ftz
@openmp_only
def test_flag_set_after_the_pool_started_reaches_one_thread_and_warns(caplog):
    def late():
        torch.set_num_threads(2)
        before = denormals_flushed()  # starts this thread's pool without the flag
        with caplog.at_level(logging.WARNING, logger="train.device"):
            configure_cpu(2)
        return before, denormals_flushed()

    assert in_fresh_thread(late) == (0.0, 0.5)
    assert "set after this thread's intra-op pool started; 50%" in caplog.text


@needs_ftz
@pytest.mark.integration
def test_ray_trial_flushes_in_every_thread(isolated_env):
    import ray
    from ray import tune

    def trial(config):
        from train.trial_run import setup

        setup(trial_from_dict({**TWO_THREADS, "flush_denormal": config["flush"]}))
        tune.report({"flushed": denormals_flushed(), "threads": torch.get_num_threads()})

    ray.init(num_cpus=2, include_dashboard=False)
    results = tune.Tuner(tune.with_resources(trial, {"cpu": 2}),
                         param_space={"flush": tune.grid_search([True, False])},
                         run_config=tune.RunConfig(storage_path=str(isolated_env), verbose=0)).fit()
    rows = {r.config["flush"]: (r.metrics["flushed"], r.metrics["threads"]) for r in results}
    assert rows == {True: (1.0, 2), False: (0.0, 2)}

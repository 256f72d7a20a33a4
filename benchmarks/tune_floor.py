"""Ray Tune's own per-trial cost on this machine: the floor under the study's orchestration.

Usage: python benchmarks/tune_floor.py [--trials 12] [--concurrent 2] [--seconds 2] [--mb 1]
       TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1 python benchmarks/tune_floor.py   # without Tune's result files

A function trainable that only sleeps ``--seconds`` in four windows, reporting after each and
handing Tune a checkpoint of ``--mb`` MB at the second and fourth report, runs ``--trials`` times
with ``--concurrent`` at once and reused actors (as a study does). Per slot, the Tuner's wall
time × concurrency / trials minus the sleep is what Tune costs per trial: actor start (amortised),
trial start and reset, result handling and checkpoint persistence.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def trainable(config: dict) -> None:
    from ray import tune

    folder = tempfile.mkdtemp()
    for window in range(4):
        time.sleep(config["seconds"] / 4)
        checkpoint = None
        if window in (1, 3):
            with open(os.path.join(folder, "state.bin"), "wb") as handle:
                handle.write(os.urandom(int(config["mb"] * 1e6)))
            checkpoint = tune.Checkpoint.from_directory(folder)
        tune.report({"window": window}, checkpoint=checkpoint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="Each trial's sleep.")
    parser.add_argument("--mb", type=float, default=1.0, help="Size of each checkpoint.")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.pop("RAY_ADDRESS", None)
    import ray
    from ray import tune

    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        tune.Tuner(tune.with_resources(trainable, {"cpu": 1}), param_space={"seconds": args.seconds, "mb": args.mb},
                   tune_config=tune.TuneConfig(num_samples=args.trials, max_concurrent_trials=args.concurrent,
                                               reuse_actors=True),
                   run_config=tune.RunConfig(storage_path=root, verbose=0,
                                             checkpoint_config=tune.CheckpointConfig(num_to_keep=2))).fit()
        fit = time.perf_counter() - start
    ray.shutdown()
    slot = fit * args.concurrent / args.trials
    loggers = "off" if os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS") == "1" else "on"
    print(f"{args.trials} trials, {args.concurrent} at once, Tune's loggers {loggers}: Tuner.fit {fit:.2f} s, "
          f"slot {slot:.3f} s, Tune's cost per trial {slot - args.seconds:.3f} s")


if __name__ == "__main__":
    main()

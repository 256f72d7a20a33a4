"""A trial that trains nothing but makes exactly the tracking calls a real trial makes.

The calls are those of :func:`study.trainable.run_trial`, through the project's own
:class:`study.tracking.TrialTracker`: start the child run (params, tags, MLflow's source tags),
the dataset as its input, a curve point batch at every report (the keys a Burgess β-VAE trial
reports, and the tracker's system metrics), the files (an image and a model file, written to a
temporary folder deleted when the trial ends, as the real trial's are), the logged model (a folder
of the files and sizes ``mlflow.pytorch.save_model`` writes for that model), the final scores
(every catalogued final metric, and the string scores as tags), the timings, and finish.
What differs: no training, so the reports come ``report_interval`` seconds apart (the logging rate
is chosen, not earned); the params are the real ones of the trial's model type, built once by the
driver (:func:`params_template`) because building them in the trial imports torch; no
checkpoints are handed to Tune.

Every HTTP request a process makes is timed (:class:`RequestLog`), and each trial counts the
records it asked for (:class:`Sent`), so the benchmark can compare them with what the server holds.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis.schema import METRICS, TrialStatus, numeric_values

#: What a Burgess β-VAE trial reports at every report.
CURVE_KEYS = ("train/loss", "train/recon", "train/kl", "images_per_second", "val_recon_error", "step")
#: The phases a trial times (study.trainable), logged as ``timing/<phase>_s`` with the final scores.
PHASES = ("setup", "steps", "validation", "checkpoints", "reports", "scoring", "artifacts", "tracking_start",
          "final_logging")
IMAGE = "images/samples.png"
MODEL = "model/model.pt"
COMMIT = "0" * 40
#: The dataset record a procedural-dSprites trial logs (study.tracking.dataset_record), as sent.
DATASET = {
    "name": "dsprites-procedural", "digest": "0123456789abcdef", "source_type": "code",
    "source": json.dumps({"tags": {"mlflow.source.name": "train.data.dsprites", "mlflow.source.git.commit": COMMIT}}),
    "schema": json.dumps({"mlflow_tensorspec": {
        "features": '[{"name": "images", "type": "tensor", "tensor-spec": {"dtype": "float32", '
                    '"shape": [-1, 1, 64, 64]}}]',
        "targets": '[{"name": "factors", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1, 6]}}]'}}),
    "profile": json.dumps({"num_examples": 737280, "image_shape": [1, 64, 64], "factors": {
        "color": 1, "shape": 3, "scale": 6, "orientation": 40, "posX": 32, "posY": 32}}),
}
#: What mlflow.pytorch.save_model writes for a Burgess β-VAE besides its pickle (data/model.pth, the
#: model's size): the MLmodel file (read back when the tracker stamps the model's id in it) and the
#: environment files, at their sizes.
LOGGED_MODEL_FILES = {
    "MLmodel": "flavors:\n  python_function:\n    data: data\n    env:\n      conda: conda.yaml\n"
               "      virtualenv: python_env.yaml\n    loader_module: mlflow.pytorch\n    pickle_module_name: "
               "mlflow.pytorch.pickle_module\n    python_version: 3.11.7\n  pytorch:\n    code: null\n"
               "    model_data: data\n    pytorch_version: 2.14.1\nmlflow_version: 3.17.2\nmodel_size_bytes: "
               "2024359\nmodel_uuid: cc9a00efd20840099dc43be082d8ab3d\nsignature:\n  inputs: '[{\"name\": "
               "\"images\", \"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", \"shape\": "
               "[-1, 1, 64, 64]}}]'\n  outputs: '[{\"name\": \"raw\", \"type\": \"tensor\", \"tensor-spec\": "
               "{\"dtype\": \"float32\", \"shape\": [-1, 1, 64, 64]}}]'\n  params: null\n"
               "utc_time_created: '2026-12-06 08:09:15.024495'\n",
    "conda.yaml": "x" * 150, "python_env.yaml": "x" * 112, "requirements.txt": "x" * 47,
    "data/pickle_module_info.txt": "mlflow.pytorch.pickle_module",
}


@dataclass(frozen=True)
class TrialShape:
    """How much a trial logs: ``reports`` curve batches ``report_interval`` s apart, an image of
    ``image_px``² noise (a PNG of about the size of a real trial's samples figure) and a model file
    of ``model_kb`` KiB (the Burgess model's checkpoint is 2.0 MB)."""

    reports: int = 10
    report_interval: float = 0.5
    image_px: int = 128
    model_kb: int = 2048


@dataclass
class Sent:
    """Records one trial asked the tracker for (``models``: logged models, ``inputs``: dataset
    inputs; system metrics are the tracker's own, not counted), and how long its own thread spent in
    tracker calls:
    ``log_seconds`` the calls while it trains and right after (curves, scores, files, timings),
    ``start_seconds`` and ``finish_seconds`` the calls around them (start waits for the run's
    creation up to ``start_wait``, finish for the buffer to be sent up to ``finish_wait``)."""

    runs: int = 0
    params: int = 0
    metrics: int = 0
    artifacts: int = 0
    models: int = 0
    inputs: int = 0
    log_seconds: list[float] = field(default_factory=list)
    start_seconds: list[float] = field(default_factory=list)
    finish_seconds: list[float] = field(default_factory=list)

    def add(self, other: Sent) -> None:
        self.runs += other.runs
        self.params += other.params
        self.metrics += other.metrics
        self.artifacts += other.artifacts
        self.models += other.models
        self.inputs += other.inputs
        self.log_seconds += other.log_seconds
        self.start_seconds += other.start_seconds
        self.finish_seconds += other.finish_seconds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Times every HTTP request this process makes to the tracking ``server``
    (``requests.Session.request``, under MLflow's client and its artifact uploads): seconds, and
    whether it failed (an exception or a status ≥ 400), with its method and endpoint."""

    def __init__(self, server: str):
        self.server = server
        self.lock = threading.Lock()
        self.seconds: list[float] = []
        self.errors: list[str] = []

    def install(self) -> RequestLog:
        import requests

        original = requests.Session.request
        log = self

        def timed(session, method, url, *args, **kwargs):
            if not url.startswith(log.server):  # not the tracking server (e.g. MLflow's telemetry)
                return original(session, method, url, *args, **kwargs)
            start = time.perf_counter()
            try:
                response = original(session, method, url, *args, **kwargs)
            except Exception as exc:
                log.record(time.perf_counter() - start, f"{type(exc).__name__} {method} {_endpoint(url)}")
                raise
            failed = response.status_code >= 400
            log.record(time.perf_counter() - start, f"HTTP {response.status_code} {method} {_endpoint(url)}"
                       if failed else None)
            return response

        requests.Session.request = timed
        return self

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.seconds.append(seconds)
            if error:
                self.errors.append(error)

    def take(self) -> tuple[list[float], list[str]]:
        with self.lock:
            out = (self.seconds, self.errors)
            self.seconds, self.errors = [], []
        return out


def _endpoint(url: str) -> str:
    """The MLflow endpoint of a URL: ``runs/log-batch``, ``artifacts`` (an upload), ..."""
    path = url.split("?")[0]
    if "/mlflow-artifacts/" in path:
        return "artifacts"
    return "/".join(path.split("/mlflow/")[-1].split("/")[:2])


def params_template(space, model_types) -> dict[str, tuple[dict[str, Any], str]]:
    """model type → (the params a trial of that type logs, its hyperparameters tag), built with the
    real :func:`study.trainable.logged_params` from the study's trial template."""
    from study.trainable import hyperparameters_tag, logged_params
    from train.config import TrialConfig

    out = {}
    for model_type in model_types:
        config = TrialConfig(model_type=model_type, num_threads=1)
        out[model_type] = (logged_params(config, ()), hyperparameters_tag(config))
    return out


def final_scores(overrides: dict[str, Any], rng: np.random.Generator, surrogate=None) -> dict[str, Any]:
    """Every catalogued final metric (with its SE where it has one) and the string scores; blur and
    MIG from the surrogate of the measured grid when given, so the Pareto plot has a real shape."""
    scores: dict[str, Any] = {}
    for metric in METRICS.values():
        if metric.intermediate:
            continue
        scores[metric.name] = float(rng.random())
        if metric.has_se:
            scores[f"{metric.name}_se"] = float(rng.random() / 100)
    if surrogate is not None:
        blur, mig = surrogate.sample(overrides["model_type"], overrides.get("beta"), rng).final
        scores.update(blur=float(blur), mig=float(mig))
    scores.update(steps_done=1000.0, train_seconds=60.0, metric_preset="fast", metric_codes="mean")
    return scores


def write_files(folder: str, shape: TrialShape, rng: np.random.Generator) -> dict[str, str]:
    """The image and the model file, named as the artifacts they become."""
    from analysis.images import save_png

    files = {IMAGE: os.path.join(folder, "images", "samples.png"), MODEL: os.path.join(folder, "model", "model.pt")}
    for path in files.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    save_png(rng.integers(0, 256, (shape.image_px, shape.image_px, 3), dtype=np.uint8), files[IMAGE])
    with open(files[MODEL], "wb") as handle:
        handle.write(rng.bytes(shape.model_kb * 1024))
    return files


def write_logged_model(folder: str, shape: TrialShape, rng: np.random.Generator) -> str:
    """A logged-model folder of the real one's files and sizes (:data:`LOGGED_MODEL_FILES`, and
    ``data/model.pth`` of the model's size); returns its path."""
    path = os.path.join(folder, "logged-model")
    os.makedirs(os.path.join(path, "data"))
    for name, text in LOGGED_MODEL_FILES.items():
        with open(os.path.join(path, name), "w") as handle:
            handle.write(text)
    with open(os.path.join(path, "data", "model.pth"), "wb") as handle:
        handle.write(rng.bytes(shape.model_kb * 1024))
    return path


def run_calls(tracker, params: dict[str, Any], tags: dict[str, str], optuna_trial: int | None,
              overrides: dict[str, Any], shape: TrialShape, rng: np.random.Generator, surrogate=None,
              report: Callable[[dict[str, float]], None] | None = None) -> tuple[Sent, dict[str, Any]]:
    """One trial's tracking calls, in the real trial's order; ``report`` receives each curve batch
    (Tune's report, or None). Returns what was sent and the final scores."""
    from study.tracking import TRIAL_SOURCE, source_tags

    sent = Sent(runs=1, params=len(params), models=1, inputs=1)

    def call(fn, *args, into=sent.log_seconds, **kwargs):
        start = time.perf_counter()
        fn(*args, **kwargs)
        into.append(time.perf_counter() - start)

    call(tracker.start, params, optuna_trial=optuna_trial, extra_tags={**tags, **source_tags(TRIAL_SOURCE, COMMIT)},
         into=sent.start_seconds)
    call(tracker.log_dataset, DATASET)
    with tempfile.TemporaryDirectory(prefix="scale-trial-") as folder:
        for i in range(shape.reports):
            time.sleep(shape.report_interval)
            step = (i + 1) * 100
            curve = {key: float(rng.random()) for key in CURVE_KEYS} | {"step": float(step)}
            call(tracker.log_metrics, curve, step=step)
            sent.metrics += len(curve)
            if report is not None:
                report(curve)
        scores = final_scores(overrides, rng, surrogate)
        files = write_files(folder, shape, rng)
        model_dir = write_logged_model(folder, shape, rng)
        call(tracker.log_artifacts, files)
        call(tracker.log_model, model_dir, {"model_type": overrides["model_type"]}, overrides["model_type"],
             step=int(scores["steps_done"]), tags=source_tags(TRIAL_SOURCE, COMMIT))
        call(tracker.log_final, scores)
        timings = {f"timing/{phase}_s": float(rng.random()) for phase in PHASES}
        call(tracker.log_metrics, timings, step=int(scores["steps_done"]), final=True)
        call(tracker.finish, TrialStatus.COMPLETED, into=sent.finish_seconds)
    sent.metrics += len(numeric_values(scores)) + len(timings)
    sent.artifacts += len(files)
    return sent, scores

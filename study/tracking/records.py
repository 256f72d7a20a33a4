"""What MLflow users look for on a run, in MLflow's own form: the source, the dataset, the model.

* **Source**: MLflow's source tags (:func:`source_tags`): the module that made the run and the
  commit of the code, which the driver finds once (:func:`study.tracking.git_sha`) and hands to
  every trial in the study context.
* **Dataset**: a run input (``mlflow.data``) named by the dataset's record name
  (``dsprites-procedural``, or ``dsprites`` for the official file) with a digest of its content
  (:func:`dataset_record`: a fixed sample of its images, so a changed renderer or file changes it),
  its schema (images, factors) and a profile (size, factors).
* **Model**: the trained model as an MLflow logged model named ``model``, saved locally in the
  pytorch flavor (:func:`save_logged_model`: the whole module pickled, so encode/decode/sample
  come back, and a signature) and sent by :func:`send_logged_model` as ``mlflow.pytorch.log_model``
  would: create, upload, finalise, link to the run as its output. ``mlflow.pytorch.load_model(
  "runs:/<id>/model")`` returns it; ``model/model.pt`` stays a run artifact for ``models.load_model``.

The dataset and the model travel through the trial's buffer like every other call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import Any

from analysis.schema import DATASET_CONTEXT, Tag

log = logging.getLogger(__name__)

#: Images whose pixels the dataset's digest covers (``eval_set(…, seed=0)``: the same for every trial).
DIGEST_IMAGES = 64
SOURCE_TYPE = "LOCAL"
#: How SQLite and PostgreSQL (through MLflow's server) say a concurrent insert came first.
DUPLICATE_INSERT = ("UNIQUE constraint failed", "duplicate key value", "IntegrityError")
#: MLflow's source name of a study's parent run and of its trials' runs: the code that makes each.
STUDY_SOURCE, TRIAL_SOURCE = "study/driver.py", "study/trainable.py"


def source_tags(name: str, commit: str | None) -> dict[str, str]:
    """MLflow's source tags: the run page's Source is ``name`` at ``commit`` (left out if unknown)."""
    tags = {Tag.SOURCE_NAME: name, Tag.SOURCE_TYPE: SOURCE_TYPE}
    if commit and commit != "unknown":
        tags[Tag.SOURCE_COMMIT] = commit
    return tags


def dataset_record(data, name: str, data_root: str | None = None, commit: str | None = None) -> dict[str, str]:
    """The dataset as an MLflow dataset entity's fields (JSON strings where MLflow keeps JSON).

    ``digest``: SHA-256 (16 hex digits) of the record name, the size and the pixels, rounded to
    8 bits, of :data:`DIGEST_IMAGES` fixed images. ``source``: the folder read (``local``) or, for a
    dataset rendered here, the code that renders it at ``commit`` (``code``)."""
    import numpy as np
    import torch
    from mlflow.data.schema import TensorDatasetSchema
    from mlflow.types import Schema, TensorSpec

    images, _ = data.eval_set(DIGEST_IMAGES, seed=0)
    pixels = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    digest = hashlib.sha256(f"{name}\0{data.num_examples}\0".encode() + pixels.tobytes()).hexdigest()[:16]
    features = Schema([TensorSpec(np.dtype(np.float32), (-1, *images.shape[1:]), "images")])
    profile: dict[str, Any] = {"num_examples": int(data.num_examples), "image_shape": list(images.shape[1:])}
    targets = None
    if getattr(data, "has_factors", False) and getattr(data, "factor_sizes", ()):
        targets = Schema([TensorSpec(np.dtype(np.int64), (-1, len(data.factor_sizes)), "factors")])
        profile["factors"] = dict(zip(data.factor_names, map(int, data.factor_sizes), strict=True))
    if data_root:
        source_type, source = "local", {"uri": os.path.abspath(data_root)}
    else:
        code = source_tags(type(data).__module__, commit)
        source_type, source = "code", {"tags": {k: v for k, v in code.items() if k != Tag.SOURCE_TYPE}}
    return {"name": name, "digest": digest, "source_type": source_type, "source": json.dumps(source),
            "schema": json.dumps(TensorDatasetSchema(features, targets).to_dict()),
            "profile": json.dumps(profile)}


def send_dataset(client, run_id: str, record: dict[str, str], tries: int = 3) -> None:
    """Log the dataset as the run's training input (idempotent: MLflow keeps one per name and digest).

    The first trials of a study log the same new dataset at once, and MLflow's server inserts it
    for each (its check and insert are not atomic): all but one get a unique-constraint error
    (HTTP 400). Sent again, the dataset exists and the input is linked to it."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    given = [DatasetInput(Dataset(**record), tags=[InputTag(MLFLOW_DATASET_CONTEXT, DATASET_CONTEXT)])]
    for attempt in range(tries):
        try:
            client.log_inputs(run_id, datasets=given)
            return
        except Exception as exc:
            if attempt == tries - 1 or not any(s in str(exc) for s in DUPLICATE_INSERT):
                raise
            time.sleep(0.2 * (attempt + 1))


def model_signature(model):
    """Input images (-1, C, 64, 64) float32 → the outputs of ``forward`` (``models.ModelOutput``):
    ``raw`` (decoder output: logits or mean), ``mu``, ``logvar`` (not for the AE), ``z``."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    f32, channels, dims = np.dtype(np.float32), int(model.config["in_channels"]), int(model.config["latent_dim"])
    image = (-1, channels, 64, 64)
    outputs = [TensorSpec(f32, image, "raw"), TensorSpec(f32, (-1, dims), "mu")]
    if getattr(model, "probabilistic", True):
        outputs.append(TensorSpec(f32, (-1, dims), "logvar"))
    outputs.append(TensorSpec(f32, (-1, dims), "z"))
    return ModelSignature(inputs=Schema([TensorSpec(f32, image, "images")]), outputs=Schema(outputs))


def save_logged_model(model, path: str) -> str:
    """``model`` (on the CPU, eval mode) in MLflow's pytorch flavor under ``path``, pickled with its
    classes by reference (loading needs this project's ``models`` package, as ``models.load_model``
    does), with :func:`model_signature` and pinned torch/cloudpickle requirements (none inferred:
    inferring imports the model in a subprocess). Returns ``path``."""
    import mlflow.pytorch

    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)  # its pickle caution, once per trial
    mlflow.pytorch.save_model(model.cpu().eval(), path, signature=model_signature(model),
                              serialization_format="pickle",
                              pip_requirements=mlflow.pytorch.get_default_pip_requirements())
    return path


def logged_model_params(model) -> dict[str, str]:
    """The logged model's params: the config that rebuilds it (model type, sizes, likelihood, β…)."""
    return {k: str(v) for k, v in dict(model.config).items()}


def send_logged_model(client, run_id: str, experiment_id: str, entry: dict[str, Any], look_up: bool = False) -> str:
    """Create the logged model (or, with ``look_up``, reuse the one an unconfirmed attempt created),
    stamp its id in the MLmodel file, upload the folder, mark it READY and make it the run's output."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    name, local = entry["name"], entry["local_path"]
    model = _existing(client, experiment_id, run_id, name) if look_up else None
    if model is None:
        model = client.create_logged_model(experiment_id, name=name, source_run_id=run_id,
                                           tags=entry.get("tags") or None, params=entry.get("params") or None,
                                           model_type=entry.get("model_type"))
    _stamp(local, model, run_id)
    repo = get_artifact_repository(model.artifact_location, tracking_uri=client.tracking_uri)
    repo.log_artifacts(local)  # straight to the location create returned: no get_logged_model first
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    if not look_up or not _is_output(client, run_id, model.model_id):
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, int(entry.get("step", 0)))])
    return model.model_id


def _existing(client, experiment_id: str, run_id: str, name: str):
    found = client.search_logged_models([experiment_id], f"name = '{name}' AND source_run_id = '{run_id}'",
                                        max_results=1)
    return found[0] if found else None


def _is_output(client, run_id: str, model_id: str) -> bool:
    outputs = client.get_run(run_id).outputs
    return any(o.model_id == model_id for o in (outputs.model_outputs if outputs else []))


def _stamp(local: str, model, run_id: str) -> None:
    """What ``mlflow.pytorch.log_model`` writes into MLmodel: the model's id, its run, its location."""
    from mlflow.models import Model

    path = os.path.join(local, "MLmodel")
    saved = Model.load(path)
    saved.model_id, saved.run_id, saved.artifact_path = model.model_id, run_id, model.artifact_location
    saved.save(path)

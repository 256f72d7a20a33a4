"""The trainer stands alone: a fresh interpreter trains, checkpoints, scores and draws a tiny trial
with it (as a notebook would) and has loaded neither Ray, MLflow, Optuna nor the study."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TRIAL = """
import json, sys
from train import train_and_evaluate, trial_from_dict

config = trial_from_dict({"model_type": "beta_tcvae", "beta": 6, "latent_dim": 3, "batch_size": 16, "steps": 4,
                          "report_every": 2, "checkpoint_every": 2, "val_size": 32, "eval_size": 64,
                          "metrics": "fast", "num_threads": 1})
result = train_and_evaluate(config, checkpoint_dir=sys.argv[1], artifact_dir=sys.argv[2])
print(json.dumps({"status": str(result.status), "scores": sorted(result.scores), "artifacts": sorted(result.artifacts),
                  "loaded": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def test_a_trial_runs_without_ray_mlflow_optuna_or_the_study(tmp_path):
    done = subprocess.run([sys.executable, "-c", TRIAL, str(tmp_path / "ck"), str(tmp_path / "art")], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == "completed" and {"recon_error", "mig", "steps_done"} <= set(out["scores"])
    assert out["artifacts"] and os.listdir(tmp_path / "ck")  # figures and model file; a checkpoint
    assert "train" in out["loaded"] and "torch" in out["loaded"]
    assert not {"ray", "mlflow", "optuna", "study", "cluster"} & set(out["loaded"]), out["loaded"]

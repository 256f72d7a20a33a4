"""Heavy imports only where used: a trial scoring with the ``recon`` preset never imports
scikit-learn (or scipy), which each Ray actor's first trial would otherwise pay ~2 s for
(benchmarks/notes/2026-11-27-start-up.md)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RECON_TRIAL = """
import sys
import study.trainable  # what a Ray actor unpickles the trainable from
from train.validation import trial_from_dict
from train.steps import COMPLETED
from train.trial import train_and_evaluate

config = trial_from_dict(dict(model_type="beta_vae", latent_dim=2, batch_size=8, steps=2, report_every=2,
                              val_size=16, eval_size=16, metrics="recon", num_threads=1))
result = train_and_evaluate(config, artifact_dir=sys.argv[1])
assert result.status == COMPLETED and "recon_error" in result.scores, result.status
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_roots(code: str, *args: str) -> set[str]:
    """Top-level modules a fresh interpreter has loaded after running ``code``."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return set(out.stdout.split())


def test_a_recon_trial_imports_no_sklearn(tmp_path):
    roots = loaded_roots(RECON_TRIAL, str(tmp_path))
    assert {"torch", "study", "analysis"} <= roots  # it did run the trial
    assert not {"sklearn", "scipy"} & roots


def test_the_metrics_package_defers_its_heavy_names():
    roots = loaded_roots("import sys\nimport analysis.metrics\nfrom analysis.metrics import score_model, blur_score\n"
                         "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    assert "sklearn" not in roots
    roots = loaded_roots("import sys\nfrom analysis.metrics import dci\n"
                         "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    assert "sklearn" in roots


def test_a_submodule_never_shadows_its_metric():
    """Importing ``analysis.metrics.dci`` (the module) leaves ``analysis.metrics.dci`` the function,
    as the eager package did."""
    import analysis.metrics
    import analysis.metrics.dci  # noqa: F401
    import analysis.metrics.sap  # noqa: F401
    from analysis.metrics import dci, modularity, sap

    assert callable(dci) and callable(sap) and callable(modularity)
    assert analysis.metrics.dci is dci and "dci" in dir(analysis.metrics)


def test_loading_a_config_imports_no_torch():
    """Dataset and likelihood names are read from train.data and models on first use only."""
    roots = loaded_roots("import sys\nfrom study.config.loading import load_preset\n"
                         "from study.config.coercion import build\nfrom study.config import StudyConfig\n"
                         "build(StudyConfig, load_preset('quick'), '')\n"
                         "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    assert "study" in roots and "torch" not in roots
    roots = loaded_roots("import sys\nimport train.options as O\nassert 'dsprites' in O.DATASETS\n"
                         "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    assert "torch" in roots  # the one declaration is the data package's

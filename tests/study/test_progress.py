"""The study's console: scores printed with their standard errors."""

import pandas as pd

from analysis.schema import Tag, TrialStatus
from study.progress import config_text, summary_table, with_se


def test_with_se_formats_a_score_and_its_error():
    assert with_se({"mig": 0.12345, "mig_se": 0.0123}, "mig") == "0.1235 ± 0.012"
    assert with_se({"recon_error": 104.2}, "recon_error") == "104.2"
    assert with_se({"mig": float("nan")}, "mig") == ""


def test_summary_table_shows_blur_and_scores_with_their_se():
    df = pd.DataFrame([
        {Tag.TRIAL_ID: "t1", "run_id": "r1", "model_type": "ae", "seed": 0, Tag.TRIAL_STATUS: TrialStatus.COMPLETED,
         "recon_error": 100.0, "beta_vae_score": 0.7, "beta_vae_score_se": 0.014, "blur": 1.2, "blur_se": 0.05},
        {Tag.TRIAL_ID: "t2", "run_id": "r2", "model_type": "beta_vae", "beta": 16.0, "seed": 0,
         Tag.TRIAL_STATUS: TrialStatus.COMPLETED, "recon_error": 140.0, "beta_vae_score": 0.8,
         "beta_vae_score_se": 0.013, "blur": 2.9, "blur_se": 0.08},
    ])
    text = summary_table(df, {"recon_error": "min", "beta_vae_score": "max"}, {"r1"})
    lines = text.splitlines()
    assert "blur" in lines[0] and lines[0].index("beta_vae_score") < lines[0].index("blur")
    assert lines[1].startswith("*") and "0.7 ± 0.014" in lines[1] and "1.2 ± 0.05" in lines[1]
    assert "2.9 ± 0.08" in lines[2]


def test_a_trial_start_line_reads_its_searched_values():
    overrides = {"model_type": "beta_tcvae", "beta": 14.46657045453, "latent_dim": 6, "seed": 0}
    assert config_text(overrides) == "model_type=beta_tcvae beta=14.47 latent_dim=6 seed=0"


RAY_ERROR = """\
Failure # 3 (occurred at 2026-12-06_11-09-02)
ray::ImplicitFunc.train() (pid=5591, ip=192.0.2.2, actor_id=0b34c7bc, repr=run_trial)
  File "/work/study/trainable.py", line 103, in run_trial
    result = train_and_evaluate(trial, checkpoint_dir=ckpt_root, resume_from=resume_from,
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB
"""


class _Trial:
    trial_id, num_failures, last_result = "ab12", 3, {}

    def __init__(self, error_file):
        self.error_file = error_file


def test_a_trial_end_line_says_why_it_failed(tmp_path):
    import io

    from study.progress import StudyProgress

    (tmp_path / "error.txt").write_text(RAY_ERROR)
    stream, marked = io.StringIO(), []
    progress = StudyProgress({"recon_error": "min"}, 2, 1, mark_trial=lambda *a: marked.append(a), stream=stream)
    progress.on_trial_start(0, [], type("T", (), {"trial_id": "ab12", "config": {}})())
    progress.on_trial_error(0, [], _Trial(str(tmp_path / "error.txt")))
    line = stream.getvalue().splitlines()[-1]
    assert ("end ab12: failed (OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
            "(after 3 attempts))") in line
    assert marked == [("ab12", TrialStatus.FAILED, "OutOfMemoryError: CUDA out of memory. Tried to allocate "
                                                   "2.00 GiB (after 3 attempts)")]
    assert progress.reasons["ab12"].startswith("OutOfMemoryError: CUDA out of memory")
    # a trial that recorded its own reason (a deterministic error, not retried) ends with it
    reason = "FileNotFoundError: x (attempt 1 of 3; not retried: deterministic)"
    done = type("T", (), {"trial_id": "cd34", "config": {},
                          "last_result": {Tag.TRIAL_STATUS: "failed", "final": 1, Tag.FAILURE_REASON: reason}})()
    progress.on_trial_complete(0, [], done)
    assert stream.getvalue().splitlines()[-1].split("] ", 1)[1].startswith(
        "end cd34: failed (FileNotFoundError: x (attempt 1 of 3; not retried: deterministic))")

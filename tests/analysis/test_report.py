"""The report on a synthetic study: one image panel per model type (each its own front's knee),
report.html built from report.md with its figures inlined, and links that open MLflow's runs view."""

import base64
import re

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from analysis import plots, report
from analysis.pareto import knee_index
from analysis.report_html import render
from analysis.runs import browse_hint, mlflow_ui_url

OBJ = {"recon_error": "min", "beta_vae_score": "max"}

# Only the AE (a0: recon 80, score 0.9) is on the study's front: it dominates every other trial.
TRIALS = [  # trial_id, model_type, beta, latent_dim, recon_error, beta_vae_score
    ("c0", "beta_tcvae", 6.0, 10, 140.0, 0.85),
    ("v0", "vae", None, 4, 100.0, 0.40),
    ("v1", "vae", None, 6, 110.0, 0.60),  # the knee of the VAE's front (normalised sum 2/3)
    ("v2", "vae", None, 10, 130.0, 0.70),
    ("b0", "beta_vae", 4.0, 4, 120.0, 0.50),  # two-member front: the tie goes to the lower recon
    ("b1", "beta_vae", 16.0, 10, 150.0, 0.80),
    ("b2", "beta_vae", 8.0, 6, 160.0, 0.40),  # dominated within its type
    ("a0", "ae", None, 10, 80.0, 0.90),
    ("a1", "ae", None, 4, 90.0, 0.50),
]


@pytest.fixture
def study():
    rows = []
    for i, (tid, mt, beta, dim, recon, score) in enumerate(TRIALS):
        rows.append({"run_id": f"r{tid}", "run_name": f"s/{tid}", "experiment_id": "7", "study": "s",
                     "trial_id": tid, "status": "FINISHED", "trial_status": "completed", "start_time": i,
                     "model_type": mt, "beta": np.nan if beta is None else beta, "latent_dim": dim, "seed": 0,
                     "recon_error": recon, "beta_vae_score": score, "beta_vae_score_se": 0.02,
                     "ok": True, "failed": False, "diverged": False, "pruned": False})
    return pd.DataFrame(rows)


def test_knee_of_a_front():
    front = pd.DataFrame({"recon_error": [100.0, 110.0, 130.0], "beta_vae_score": [0.4, 0.6, 0.7]},
                         index=[5, 6, 7])
    assert knee_index(front, OBJ) == 6
    assert knee_index(front.loc[[5, 7]], OBJ) == 5  # a tie: the end best in the first objective
    assert knee_index(front.loc[[7]], OBJ) == 7
    with pytest.raises(ValueError, match="front"):
        knee_index(front.iloc[:0], OBJ)


def test_every_model_type_gets_a_panel_from_its_own_front(study):
    assert report.front_of(study, OBJ)["trial_id"].tolist() == ["a0"]
    picks = report.best_per_model(study, OBJ)
    assert picks["model_type"].tolist() == ["ae", "vae", "beta_vae", "beta_tcvae"]  # seed report order
    assert picks["trial_id"].tolist() == ["a0", "v1", "b0", "c0"]


def fake_download(tmp_path):
    """Stands in for mlflow.artifacts.download_artifacts: a distinct grey image per run."""
    def download(run_id, artifact_path, dst_path, tracking_uri):
        import os

        os.makedirs(dst_path, exist_ok=True)
        path = os.path.join(dst_path, f"{run_id}-{os.path.basename(artifact_path)}")
        mpimg.imsave(path, np.random.default_rng(len(run_id)).random((24, 24)), cmap="gray")
        return path
    return download


def test_report_has_four_panels_links_and_a_self_contained_html(study, tmp_path, monkeypatch):
    import mlflow.artifacts

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", fake_download(tmp_path))
    drawn = {}
    original = plots.image_panels

    def image_panels(images, title, out=None):
        fig = original(images, title, out=out)
        drawn[out.rsplit("/", 1)[-1]] = [ax.get_title() for ax in fig.axes]
        return fig

    monkeypatch.setattr(plots, "image_panels", image_panels)
    server = "http://127.0.0.1:5999"
    written = report.write_report(study, OBJ, str(tmp_path / "out"), study="s", tracking_uri=server)
    panels = ["AE (trial a0)", "VAE (trial v1)", "β-VAE β=4 (trial b0)", "β-TCVAE β=6 (trial c0)"]
    assert drawn == {"samples_by_model": panels, "traversals_by_model": panels}
    md = open(written["report.md"]).read()
    assert f"Panels: {', '.join(panels)}; one panel per model type, each from the knee" in md
    assert md.count("Panels:") == 2  # under the samples and the traversals, nowhere else
    run_link = f"[v1]({server}/#/experiments/7/runs/rv1?workflowType=machine_learning)"
    assert "## All trials" in md and run_link in md
    assert f"The study's runs in MLflow: [{server}/#/experiments/7?workflowType=machine_learning]" in md

    page = open(written["report.html"]).read()
    assert page.startswith("<!DOCTYPE html>")
    assert f'<a href="{server}/#/experiments/7/runs/rv1?workflowType=machine_learning">v1</a>' in page
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', page)
    assert [alt for _, alt in images] == ["Trials and the Pareto front", "Front per model type",
                                          "Metrics vs the hyperparameter of each model type",
                                          "Hypervolume vs trials", "Samples from the prior", "Latent traversals",
                                          "Robust front"]  # the tradeoff section comes last
    for data, alt in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n", alt
    assert not re.findall(r'<img src="(?!data:)', page)  # nothing refers to a file beside the page
    # one front member: no resolution section
    assert "<h2>Pareto-optimal trials</h2>" in page and "<h2>All trials</h2>" in page


def test_local_store_links_nothing_and_says_how_to_open_mlflow(study, tmp_path, monkeypatch):
    import mlflow.artifacts

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", fake_download(tmp_path))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    written = report.write_report(study, OBJ, str(tmp_path / "out"), study="s", tracking_uri=uri)
    md = open(written["report.md"]).read()
    assert "](http" not in md
    assert (f"To browse the runs in MLflow: mlflow ui --backend-store-uri {uri}, then open "
            "http://127.0.0.1:5000/#/experiments/7?workflowType=machine_learning.") in md
    assert "<a href" not in open(written["report.html"]).read()


def test_ui_links_open_the_runs_view():
    assert mlflow_ui_url("http://h:5000/", 3) == "http://h:5000/#/experiments/3?workflowType=machine_learning"
    assert mlflow_ui_url("https://h", "3", "abc") == "https://h/#/experiments/3/runs/abc?workflowType=machine_learning"
    assert mlflow_ui_url("http://h", "3", "abc", artifact="").endswith(
        "/runs/abc/artifacts?workflowType=machine_learning")
    assert mlflow_ui_url("http://h", "3", "abc", artifact="images/t.png") == (
        "http://h/#/experiments/3/runs/abc/artifacts/images/t.png?workflowType=machine_learning")
    assert mlflow_ui_url("sqlite:///x/mlflow.db", "3") is None and mlflow_ui_url(None, "3") is None
    assert browse_hint("http://h", "3") == "open http://h/#/experiments/3?workflowType=machine_learning"
    assert browse_hint("sqlite:///x.db", "3") == ("mlflow ui --backend-store-uri sqlite:///x.db, then open "
                                                 "http://127.0.0.1:5000/#/experiments/3?workflowType=machine_learning")


def test_html_renders_the_report_markdown(tmp_path):
    mpimg.imsave(tmp_path / "f.png", np.zeros((4, 4)), cmap="gray")
    md = "\n".join(["# Study <x>", "", "Dataset: **procedural** `a_b` [run](http://h/#/e?q=1&r=2).", "",
                    "| trial_id | recon |", "|---|---|", "| [t1](http://h/1) | 1.5 |", "| t2 | – |", "",
                    "- one **within noise**", "- two", "", "![A figure](f.png)", "", "![gone](nope.png)"])
    page = render(md, str(tmp_path))
    assert "<title>Study &lt;x&gt;</title>" in page and "<h1>Study &lt;x&gt;</h1>" in page
    assert ('<p>Dataset: <strong>procedural</strong> <code>a_b</code> '
            '<a href="http://h/#/e?q=1&amp;r=2">run</a>.</p>') in page
    assert ("<table><thead><tr><th>trial_id</th><th>recon</th></tr></thead><tbody>"
            '<tr><td><a href="http://h/1">t1</a></td><td>1.5</td></tr><tr><td>t2</td><td>–</td></tr>'
            "</tbody></table>") in page
    assert "<ul><li>one <strong>within noise</strong></li><li>two</li></ul>" in page
    assert '<figure><img src="data:image/png;base64,' in page and "<figcaption>A figure</figcaption>" in page
    assert "figure nope.png missing" in page


def test_a_large_study_lists_its_front_then_the_best_and_says_where_the_rest_is(monkeypatch):
    monkeypatch.setattr(report, "REPORT_ROWS", 5)
    g = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"trial_id": [f"t{i:02d}" for i in range(n)], "model_type": "vae", "beta": np.nan,
                       "latent_dim": 10, "seed": 0, "trial_status": "completed",
                       "recon_error": g.uniform(100, 200, n), "beta_vae_score": g.uniform(0.3, 0.9, n), "ok": True})
    front = report.front_of(df, OBJ)
    lines = "\n".join(report.trials_lines(df, front, OBJ, None))
    listed = re.findall(r"\| (t\d\d) \|", lines)
    assert len(listed) == 5 and "5 of 40 rows" in lines and "runs.csv" in lines
    rest = df.drop(front.index).sort_values("recon_error")
    expected = [*front.sort_values("recon_error")["trial_id"], *rest["trial_id"]][:5]
    assert sorted(listed) == sorted(expected)
    small = "\n".join(report.trials_lines(df.head(5), report.front_of(df.head(5), OBJ), OBJ, None))
    assert len(re.findall(r"\| (t\d\d) \|", small)) == 5 and "runs.csv" not in small


def test_names_and_links_from_run_data_stay_in_the_report(study, tmp_path, monkeypatch):
    """Whoever can write runs chooses ``model_type``: it cannot lead a download out of the report's
    folder, nor put a script link into report.html."""
    import os

    import mlflow.artifacts

    targets = []

    def download(run_id, artifact_path, dst_path, tracking_uri):
        targets.append(os.path.realpath(dst_path))
        return fake_download(tmp_path)(run_id, artifact_path, dst_path, tracking_uri)

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", download)
    study.loc[study["trial_id"] == "c0", "model_type"] = "../../../escaped"
    study.loc[study["trial_id"] == "v1", "model_type"] = "[x](javascript:alert(1))"
    out = tmp_path / "deep" / "out"
    written = report.write_report(study, OBJ, str(out), study="s", tracking_uri="http://127.0.0.1:5999")
    images = os.path.realpath(out / "images")
    assert targets and all(t.startswith(images + os.sep) for t in targets)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()
    assert report.safe_name("../../etc/cron.d") == "_.._etc_cron.d" and report.safe_name("..") == "_"
    page = open(written["report.html"]).read()
    assert "javascript:" not in page.replace("[x](javascript:alert(1))", "")  # shown as text, never a link
    assert 'href="javascript' not in page.lower()


def test_a_single_objective_study_gets_its_report(study, tmp_path):
    """One objective: the seed-spread figure and the front are drawn on that objective alone."""
    several_seeds = pd.concat([study, study.assign(seed=1, run_id=study["run_id"] + "s1",
                                                   recon_error=study["recon_error"] + 3.0)], ignore_index=True)
    written = report.write_report(several_seeds, {"recon_error": "min"}, str(tmp_path / "out"), study="s")
    assert "seed_spread" in written and "report.md" in written
    assert "a0" in open(written["report.md"]).read()  # the best trial on the one objective

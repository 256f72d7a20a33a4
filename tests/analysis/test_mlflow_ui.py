"""What a person sees after a tiny real study: the MLflow UI and report.html in headless Chromium.

A four-trial grid study (AE, VAE, β-VAE, β-TCVAE; 60 steps, recon metrics, local Ray) logs to a
real ``mlflow server``; Chromium then renders the link the study prints (the runs table), a
trial's run page (its metrics; its source, dataset, logged model and system-metric charts), its
artifacts page (the images), its logged model's page and the study's report.html.
Screenshots are kept under ``test-artifacts/mlflow-ui/`` in the repository root (gitignored).

Needs Debian's ``chromium`` package (``make test`` installs it when run as root).
"""

import contextlib
import html
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from analysis.runs import RUNS_VIEW_QUERY, SYSTEM_METRICS_TAB, mlflow_ui_url
from cluster.local import mlflow_healthy
from study.config import make_config
from study.driver import run_study
from tests.study.conftest import TINY_TRIAL, child_runs

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOTS = os.path.join(REPO, "test-artifacts", "mlflow-ui")
STUDY = "browser-check"
GRID = [{"model_type": "ae"}, {"model_type": "vae"}, {"model_type": "beta_vae", "beta": 4.0},
        {"model_type": "beta_tcvae", "beta": 6.0}]
#: Virtual time Chromium gives a page before dumping it. MLflow's SPA fetches its runs after
#: loading several script chunks; virtual time waits for pending fetches, so this is an upper
#: bound on the page's own timers, not wall time (see the timings the tests print).
BUDGET_MS = 15000


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("headless Chromium not found: install Debian's `chromium` package "
                    "(apt-get install -y chromium; `make test` does it when run as root)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def visible_text(dom: str) -> str:
    """The DOM's text: scripts and styles dropped, tags replaced by spaces, entities decoded."""
    dom = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", dom)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


class Browser:
    """Headless Chromium, one launch per page: its rendered DOM and a screenshot."""

    def __init__(self, profile: str):
        self.profile = profile
        self.timings: dict[str, float] = {}

    def open(self, url: str, shot: str, height: int = 1000) -> tuple[str, str]:
        """(rendered DOM, screenshot path) of ``url`` in a 1600 × ``height`` window; the screenshot
        goes to SHOTS/``shot``.png."""
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, f"{shot}.png")
        if os.path.exists(path):
            os.remove(path)
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", "--no-first-run", f"--user-data-dir={self.profile}",
               f"--window-size=1600,{height}", f"--virtual-time-budget={BUDGET_MS}", "--dump-dom",
               "--run-all-compositor-stages-before-draw",  # else lazily drawn charts never start loading
               f"--screenshot={path}", url]
        start = time.time()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        self.timings[shot] = time.time() - start
        assert done.returncode == 0 and done.stdout, done.stderr[-2000:]
        assert os.path.exists(path), f"no screenshot of {url}: {done.stderr[-2000:]}"
        return done.stdout, path


def assert_not_blank(path: str, height: int = 1000) -> None:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape == (height, 1600) and pixels.std() > 10, (path, pixels.std())


@pytest.fixture(scope="module")
def served_study(tmp_path_factory):
    """A tiny real study logged to a real MLflow server on a free port (stopped by its PID)."""
    root = tmp_path_factory.mktemp("ui")
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(root / "mlflow-server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not mlflow_healthy(server):
            assert proc.poll() is None and time.time() < deadline, open(root / "mlflow-server.log").read()[-3000:]
            time.sleep(0.5)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RAY_ADDRESS", "local")
            mp.setenv("RAY_AUTH_MODE", "disabled")
            mp.delenv("MLFLOW_TRACKING_URI", raising=False)
            mp.chdir(root)
            cfg = make_config("quick", overrides={
                "name": STUDY, "root": str(root / "runs"), "tracking_uri": server,
                "trial": {**TINY_TRIAL, "metrics": "recon"},
                "search": {"objectives": ["recon_error", "recon_mse"]},
                "space": {"mode": "grid", "grid": GRID}})
            printed = io.StringIO()  # the lines the study prints for a person
            with contextlib.redirect_stdout(printed):
                summary = run_study(cfg)
            import ray

            if ray.is_initialized():
                ray.shutdown()
        yield {"server": server, "summary": summary, "printed": printed.getvalue(), "root": root,
               "browser": Browser(str(root / "chromium-profile"))}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def trials_of(served):
    runs = child_runs(served["server"], STUDY)
    assert len(runs) == len(GRID)
    order = [g["model_type"] for g in GRID]
    return sorted(runs, key=lambda r: order.index(r.data.params["model_type"]))


def shots_printed(served, capsys):
    """Print where the screenshots are (and how long each page took), past pytest's capture."""
    with capsys.disabled():
        for name, seconds in served["browser"].timings.items():
            print(f"\n[mlflow-ui] {os.path.join(SHOTS, name + '.png')} ({seconds:.1f} s)", end="")
        served["browser"].timings.clear()


def test_the_printed_link_opens_the_runs_table(served_study, capsys):
    server, trials = served_study["server"], trials_of(served_study)
    experiment_id = trials[0].info.experiment_id
    url = mlflow_ui_url(server, experiment_id)
    assert url.endswith(f"/#/experiments/{experiment_id}?workflowType=machine_learning")
    assert f"[betasweep] browse: open {url}\n" in served_study["printed"]
    assert "View experiment at" not in served_study["printed"]  # MLflow's own links open GenAI pages
    dom, shot = served_study["browser"].open(url, "runs-table")
    text = visible_text(dom)
    # the runs view ("Model training"): the runs table with the study's run, its trials nested
    # under it (collapsed: MLflow keeps expanded rows in the browser, not in the URL), counted
    assert "Run Name" in text and "Duration" in text, text[:2000]
    assert f" {STUDY} " in text
    assert f"{len(GRID) + 1} matching runs" in text
    assert "Token Usage" not in text and "Observability" not in text  # not the GenAI overview
    assert_not_blank(shot)
    shots_printed(served_study, capsys)


def test_the_study_run_lists_its_trials(served_study, capsys):
    server, trials = served_study["server"], trials_of(served_study)
    parent = served_study["summary"]["parent_run_id"]
    dom, shot = served_study["browser"].open(mlflow_ui_url(server, trials[0].info.experiment_id, parent),
                                             "study-run")
    text = visible_text(dom)
    assert "Child runs" in text and "study_status : completed" in text, text[:3000]
    for run in trials:
        assert run.info.run_name in text, run.info.run_name
    assert_not_blank(shot)
    shots_printed(served_study, capsys)


def test_a_trial_page_shows_its_metrics_and_images(served_study, capsys):
    server, trials = served_study["server"], trials_of(served_study)
    trial = trials[2]  # the β-VAE
    experiment_id = trial.info.experiment_id
    dom, shot = served_study["browser"].open(mlflow_ui_url(server, experiment_id, trial.info.run_id), "trial-run")
    text = visible_text(dom)
    assert trial.info.run_name in text and "Metrics (" in text, text[:3000]
    # the tiny trials' models are collapsed: blur and shape_error are NaN, which the page does not list
    for metric in ("recon_error", "collapsed", "output_variation", "blur_samples", "train/loss", "eval_kl"):
        assert f" {metric} " in text, metric
    assert "model_type beta_vae" in text and f"beta {trial.data.params['beta']}" in text
    assert "trial_status : completed" in text
    assert_not_blank(shot)
    for run in (trials[0], trial):  # the AE's traversal spans its codes' range; the β-VAE's the prior's
        kind = run.data.params["model_type"]
        for image in ("reconstructions.png", "traversals.png"):
            url = mlflow_ui_url(server, experiment_id, run.info.run_id, artifact=f"images/{image}")
            dom, shot = served_study["browser"].open(url, f"{kind}-{image[:-4]}")
            shown = re.findall(rf'<img alt="images/{image}" src="blob:http[^"]+"', dom)
            assert shown, f"{image} of {run.info.run_name} not displayed"
            text = visible_text(dom)
            assert all(name in text for name in ("reconstructions.png", "samples.png", "traversals.png"))
    shots_printed(served_study, capsys)


def test_report_html_renders_with_its_figures_and_linked_trials(served_study, capsys):
    server, trials = served_study["server"], trials_of(served_study)
    report = os.path.join(served_study["summary"]["report"], "report.html")
    dom, shot = served_study["browser"].open("file://" + report, "report-html", height=4000)  # figures too
    figures = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}" alt="([^"]+)"', dom)
    assert {"Trials and the Pareto front", "Samples from the prior", "Latent traversals"} <= set(figures), figures
    text = visible_text(dom)
    assert "Dataset: dsprites-procedural" in text and "All trials" in text
    for run in trials:  # every trial in the table, linked to its run in the runs view
        link = mlflow_ui_url(server, run.info.experiment_id, run.info.run_id).replace("&", "&amp;")
        assert f'<a href="{link}">{run.data.tags["trial_id"]}</a>' in dom
    assert re.search(r"Panels: AE \(trial \w+\), VAE \(trial \w+\), β-VAE β=4 \(trial \w+\), "
                     r"β-TCVAE β=6 \(trial \w+\)", text), text
    assert_not_blank(shot, height=4000)
    shots_printed(served_study, capsys)


def test_a_trial_page_shows_its_logged_model_dataset_source_and_system_metrics(served_study, capsys):
    """What MLflow users look for on a run: its source and commit, its dataset, its logged model
    (and that model's own page), and the System metrics tab's charts."""
    server, trials = served_study["server"], trials_of(served_study)
    trial = trials[2]  # the β-VAE
    experiment_id, run_id, tags = trial.info.experiment_id, trial.info.run_id, trial.data.tags
    (dataset,) = trial.inputs.dataset_inputs
    (output,) = trial.outputs.model_outputs
    dom, shot = served_study["browser"].open(mlflow_ui_url(server, experiment_id, run_id), "trial-run-records",
                                             height=2600)  # down to the logged models table
    text = visible_text(dom)
    assert f"Source trainable.py {tags['mlflow.source.git.commit'][:7]} " in text, text[:3000]
    assert f"Datasets {dataset.dataset.name} ({dataset.dataset.digest}) training " in text
    assert dataset.dataset.name == "dsprites-procedural"
    assert "System metrics (5) system/cpu_utilization_percentage" in text  # no GPU here: 5
    assert re.search(r"Logged models \(1\) .* Output 60 #\w+ model Ready ", text), text[-3000:]
    assert_not_blank(shot, height=2600)
    dom, shot = served_study["browser"].open(
        mlflow_ui_url(server, experiment_id, run_id, tab=SYSTEM_METRICS_TAB), "trial-system-metrics", height=1000)
    text = visible_text(dom)
    for name in ("cpu_utilization_percentage", "system_memory_usage_megabytes", "process_cpu_percentage",
                 "process_rss_megabytes"):
        assert name in text, name
    assert dom.count('class="main-svg"') >= 10, "the charts were not drawn"  # plotly: 2 layers per chart
    assert_not_blank(shot)
    dom, shot = served_study["browser"].open(
        f"{server}/#/experiments/{experiment_id}/models/{output.model_id}?{RUNS_VIEW_QUERY}", "trial-logged-model")
    text = visible_text(dom)
    assert "Status Ready" in text and f"Source run {trial.info.run_name}" in text, text[:3000]
    assert f"Logged from trainable.py {tags['mlflow.source.git.commit'][:7]} " in text
    assert "model_type beta_vae" in text and "latent_dim 4" in text
    assert_not_blank(shot)
    from mlflow.tracking import MlflowClient

    study_run = MlflowClient(server).get_run(served_study["summary"]["parent_run_id"]).data
    assert study_run.metrics["system/process_rss_megabytes"] > 0  # the driver's, on the study run
    assert study_run.tags["mlflow.source.git.commit"] == tags["mlflow.source.git.commit"]
    shots_printed(served_study, capsys)

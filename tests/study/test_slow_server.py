"""A slow tracking server never holds up a trial's training, and loses none of its records.

A real MLflow server behind a tiny proxy that holds every request ``delay`` seconds before
forwarding it (the server still does the work: a client that gave up may have created a run). The
trial logs while each request takes :data:`DELAY` s: its calls return without waiting for the server, the run
is created once (also when the client gave up on the creation), and when the server answers again
everything reaches it.
"""

import http.client
import http.server
import threading
import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from analysis.images import save_png
from analysis.schema import Artifact, RunState, Tag, TrialStatus
from study import tracking
from tests.cluster.test_faults import free_port, start_server, stop_server

pytestmark = pytest.mark.integration

#: How late the proxy forwards a request: longer than the 3-s client timeout of the give-up test,
#: with margin, and a trial's calls must return in a third of it.
DELAY = 8.0


class SlowProxy(http.server.ThreadingHTTPServer):
    """Forwards to ``upstream`` after holding each request of ``delayed`` methods ``delay`` seconds,
    those one at a time in arrival order (a busy server's queue: none overtakes an earlier one, also
    when the delay changes; other methods pass at once); counts the requests held."""

    daemon_threads = True

    def __init__(self, upstream_port: int):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_port = upstream_port
        self.delay = 0.0
        self.delayed = ("GET", "POST", "PUT", "PATCH", "DELETE")
        self.held = 0
        self.arrived = 0
        self.served = 0
        self.paths: list[str] = []  # of the held requests, in arrival order
        self.turn = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def idle(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while self.held and time.time() < deadline:
            time.sleep(0.2)
        return not self.held


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        queued = self.command in server.delayed
        with server.turn:
            ticket = server.arrived
            server.arrived += queued
            if queued:
                server.paths.append(self.path)
            server.held += 1
        try:
            if queued:
                time.sleep(server.delay)
                with server.turn:
                    server.turn.wait_for(lambda: server.served == ticket)
            upstream = http.client.HTTPConnection("127.0.0.1", server.upstream_port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            upstream.close()
        finally:
            with server.turn:
                server.held -= 1
                server.served += queued
                server.turn.notify_all()
        try:
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


@pytest.fixture
def slow_server(tmp_path):
    port = free_port()
    server = start_server(tmp_path, port)
    proxy = SlowProxy(port)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy, f"http://127.0.0.1:{port}"
    finally:
        proxy.shutdown()
        stop_server(server)


def log_a_trial(t, tmp_path) -> list[float]:
    """A trial's calls after its start; returns how long each took."""
    png = tmp_path / "samples.png"
    save_png(np.zeros((8, 8, 3), np.uint8), str(png))
    waits = []
    for step in range(1, 21):
        started = time.perf_counter()
        t.log_metrics({"train/loss": 1.0 / step, "val_recon_error": float(step)}, step)
        waits.append(time.perf_counter() - started)
    started = time.perf_counter()
    t.log_final({"recon_error": 7.25, "steps_done": 20.0})
    t.log_artifacts({Artifact.SAMPLES: str(png)})
    waits.append(time.perf_counter() - started)
    return waits


def catch_up_and_check(proxy, direct, parent, t, tmp_path) -> None:
    """The server answers at once again: the trial finishes and every record is there, once."""
    proxy.delay = 0.0
    assert proxy.idle(DELAY + 30)  # requests already held are done (a run a client gave up on may exist)
    t.finish_wait = 120.0
    t.finish(TrialStatus.COMPLETED)
    assert t.wait_sent(0)
    assert not list((tmp_path / "buffer" / "t1" / "artifacts").glob("*/*"))  # sent copies are removed
    client = MlflowClient(direct)
    exp = client.get_experiment_by_name("betasweep").experiment_id
    runs = client.search_runs([exp], f"tags.{Tag.PARENT_RUN} = '{parent}'")
    assert len(runs) == 1  # created once
    run = runs[0]
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted(m.step for m in history) == list(range(1, 21))
    assert run.data.metrics["recon_error"] == 7.25 and run.data.params["latent_dim"] == "4"
    assert run.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED and run.info.status == RunState.FINISHED
    assert [a.path for a in client.list_artifacts(run.info.run_id, Artifact.IMAGES_DIR)] == [Artifact.SAMPLES]


def tracker(proxy, parent, tmp_path):
    return tracking.TrialTracker(proxy.url, "betasweep", parent, "s", "t1", buffer_dir=str(tmp_path / "buffer" / "t1"),
                                 retry_after=1.0, start_wait=1.0, finish_wait=1.0)


def test_a_slow_server_never_holds_up_the_trial(slow_server, tmp_path, monkeypatch):
    """The server answers every request :data:`DELAY` s late (the client waits up to 60 s): the trial's calls
    return without waiting, and everything arrives."""
    proxy, direct = slow_server
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    parent = tracking.start_study_run(direct, "betasweep", "s", {}, {})
    t = tracker(proxy, parent, tmp_path)
    t.start({"model_type": "vae", "latent_dim": 4})
    proxy.delay = DELAY
    waits = log_a_trial(t, tmp_path)
    assert max(waits) < DELAY / 3, waits  # no call waited for the server (each request takes DELAY s)
    deadline = time.time() + 10
    while not proxy.held and time.time() < deadline:
        time.sleep(0.1)
    assert proxy.held  # the server is being asked, slowly, meanwhile
    catch_up_and_check(proxy, direct, parent, t, tmp_path)


def test_requests_the_client_gave_up_on_create_no_second_run(slow_server, tmp_path, monkeypatch):
    """Writes (POST) take :data:`DELAY` s and the client gives up after 3 s, but the server still does them: the
    creation of the trial's run is retried, and a retry first looks the run up (behind the first
    creation, in the server's queue), so the run exists once; nothing is lost."""
    proxy, direct = slow_server
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    parent = tracking.start_study_run(direct, "betasweep", "s", {}, {})
    proxy.delay, proxy.delayed = DELAY, ("POST",)
    t = tracker(proxy, parent, tmp_path)
    t.start({"model_type": "vae", "latent_dim": 4})  # its lookup waits for the client's timeout
    deadline = time.time() + 10 * DELAY  # the creation is sent, given up on, and retried (a request after it)
    while time.time() < deadline and not any("runs/create" in p for p in proxy.paths[:-1]):
        time.sleep(0.1)
    assert any("runs/create" in p for p in proxy.paths[:-1]), proxy.paths
    waits = log_a_trial(t, tmp_path)
    assert max(waits) < DELAY / 3, waits
    catch_up_and_check(proxy, direct, parent, t, tmp_path)

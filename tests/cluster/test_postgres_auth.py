"""MLflow on PostgreSQL behind basic auth: the project's server wrapper builds credential-free URIs;
a real PostgreSQL + authenticated MLflow server on 127.0.0.1 accepts the study's tracking calls
with the login from the environment, refuses requests without it or with a wrong password, and no
credential reaches a run, a log, the bookkeeping or the printed study config."""

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from cluster import local, mlflow_app, mlflow_server, mlflow_users, postgres, processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def server_args(**kw):
    base = {"host": "127.0.0.1", "port": 5000, "artifacts_destination": "/tmp/art", "allowed_hosts": None,
            "auth": False, "auth_config": os.path.join(tempfile.gettempdir(), "bsw-test-auth.ini"),
            "default_permission": "READ", "workers": None, "max_upload_mb": None,
            "auth_cache_seconds": None}
    return argparse.Namespace(**{**base, **kw})


def test_server_env_keeps_the_password_out_of_uris_and_command_line():
    env = {"POSTGRES_HOST": "db.internal", "POSTGRES_USER": "ml flow", "POSTGRES_PASSWORD": "pg-Secret-123",
           "POSTGRES_DB": "tracking", "PATH": os.environ["PATH"]}
    cmd, out = mlflow_server.server_env(server_args(), env)
    uri = cmd[cmd.index("--backend-store-uri") + 1]
    assert uri == "postgresql+psycopg2://ml%20flow@db.internal:5432/tracking"
    assert "pg-Secret-123" not in " ".join(cmd) and out["PGPASSWORD"] == "pg-Secret-123"
    assert "POSTGRES_PASSWORD" not in out and out["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


def test_server_workers_from_the_command_line_the_environment_or_the_store():
    def workers(argv, env):
        args = mlflow_server.build_parser().parse_args(["--artifacts-destination", "/tmp/art", *argv])
        cmd, _ = mlflow_server.server_env(args, env)
        return cmd[cmd.index("--workers") + 1]

    sqlite = {"MLFLOW_BACKEND_STORE_URI": "sqlite:///x.db"}
    postgres = {"POSTGRES_HOST": "db.internal", "POSTGRES_USER": "mlflow"}
    assert workers([], sqlite) == "1"  # one writer at a time
    assert workers([], postgres) == "4"
    assert workers([], {**postgres, "MLFLOW_SERVER_WORKERS": "8"}) == "8"
    assert workers(["--workers", "3"], {**sqlite, "MLFLOW_SERVER_WORKERS": "8"}) == "3"
    with pytest.raises(SystemExit, match="MLFLOW_SERVER_WORKERS"):
        workers([], {**postgres, "MLFLOW_SERVER_WORKERS": "four"})
    with pytest.raises(SystemExit, match="whole number"):
        workers(["--workers", "0"], postgres)


@pytest.mark.parametrize("workers,engines,budget", [(4, 2, 80), (4, 3, 80), (1, 2, 80), (8, 3, 40), (16, 3, 80)])
def test_pools_stay_within_the_connection_budget(workers, engines, budget):
    pools = mlflow_server.pool_settings(workers, engines, budget)
    size, overflow = int(pools["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"]), int(pools["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"])
    assert size >= 1 and overflow >= 1
    most = workers * engines * (size + overflow)
    assert most <= budget or size + overflow == 2  # never below one pooled and one overflow connection
    assert most > budget - workers * engines * 2  # and not needlessly small


def test_the_server_bounds_its_postgres_connections_and_leaves_sqlite_alone(tmp_path):
    postgres = {"POSTGRES_HOST": "db.internal", "POSTGRES_USER": "mlflow"}
    _, env = mlflow_server.server_env(server_args(), postgres)
    assert (env["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"], env["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"]) == ("5", "5")
    _, env = mlflow_server.server_env(server_args(), {**postgres, "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "20"})
    assert env["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"] == "20"  # set by hand: kept
    _, env = mlflow_server.server_env(server_args(), {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/m.db"})
    assert "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE" not in env
    with pytest.raises(SystemExit, match="MLFLOW_SERVER_DB_CONNECTIONS"):
        mlflow_server.server_env(server_args(), {**postgres, "MLFLOW_SERVER_DB_CONNECTIONS": "lots"})


def test_auth_settings_from_the_environment(tmp_path):
    ini = str(tmp_path / "auth.ini")
    env = {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/mlflow.db", "MLFLOW_AUTH_ADMIN_USERNAME": "ops",
           "MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-password-42", "MLFLOW_TRACKING_USERNAME": "trials"}
    cmd, out = mlflow_server.server_env(server_args(auth=True, auth_config=ini), env)
    assert cmd[-2:] == ["--app-name", "betasweep"] and out["BETASWEEP_MLFLOW_AUTH"] == "1"
    assert out["MLFLOW_AUTH_ADMIN_USERNAME"] == "ops" and out["MLFLOW_AUTH_CONFIG_PATH"] == ini
    text = open(ini).read()
    assert f"database_uri = sqlite:///{tmp_path}/mlflow-auth.db" in text and "a-long-password-42" not in text
    assert os.stat(ini).st_mode & 0o777 == 0o600  # it names the users' database (a URI may hold a password)
    args = server_args(auth=True, auth_config=ini)
    with pytest.raises(SystemExit, match="at least 12"):
        mlflow_server.server_env(args, {**env, "MLFLOW_AUTH_ADMIN_PASSWORD": "short"})
    trials_only = {"MLFLOW_BACKEND_STORE_URI": "sqlite:///x.db", "MLFLOW_TRACKING_USERNAME": "ops",
                   "MLFLOW_TRACKING_PASSWORD": "a-long-pass-42"}
    with pytest.raises(SystemExit, match="MLFLOW_AUTH_ADMIN_USERNAME"):  # the trials' login is never the admin's
        mlflow_server.server_env(args, trials_only)
    with pytest.raises(SystemExit, match="is the MLflow admin"):
        mlflow_server.server_env(args, {**env, "MLFLOW_TRACKING_USERNAME": "ops"})


def test_verified_logins_are_cached_for_a_minute_unless_told_otherwise(tmp_path):
    """MLflow hashes the password of every request (scrypt, ~0.1-0.3 s of CPU: 22× the latency of a
    cached login in benchmarks/auth_cache.py); the server trusts a verified login for
    ``auth_cache_ttl_seconds``."""
    ini = str(tmp_path / "auth.ini")
    env = {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/mlflow.db", "MLFLOW_AUTH_ADMIN_USERNAME": "ops",
           "MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-password-42"}

    def cache_line(argv, env):
        args = mlflow_server.build_parser().parse_args(["--artifacts-destination", "/tmp/art", "--auth",
                                                        "--auth-config", ini, *argv])
        mlflow_server.server_env(args, env)
        return [line for line in open(ini).read().splitlines() if line.startswith("auth_cache_ttl_seconds")]

    assert cache_line([], env) == ["auth_cache_ttl_seconds = 60"]
    assert cache_line([], {**env, "MLFLOW_SERVER_AUTH_CACHE_SECONDS": "5"}) == ["auth_cache_ttl_seconds = 5"]
    assert cache_line(["--auth-cache-seconds", "0"], {**env, "MLFLOW_SERVER_AUTH_CACHE_SECONDS": "5"}) == [
        "auth_cache_ttl_seconds = 0"]  # 0: every request verified
    with pytest.raises(SystemExit, match="MLFLOW_SERVER_AUTH_CACHE_SECONDS"):
        cache_line([], {**env, "MLFLOW_SERVER_AUTH_CACHE_SECONDS": "a minute"})
    with pytest.raises(SystemExit, match="--auth-cache-seconds must be a whole number ≥ 0"):
        cache_line(["--auth-cache-seconds", "-1"], env)


def test_the_server_runs_our_app_with_the_upload_cap(tmp_path):
    env = {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/m.db", "PYTHONPATH": "/elsewhere"}
    cmd, out = mlflow_server.server_env(server_args(max_upload_mb=8), env)
    assert cmd[-2:] == ["--app-name", "betasweep"] and out["MLFLOW_SERVER_MAX_UPLOAD_MB"] == "8"
    assert mlflow_app.max_upload_bytes(out) == 8 * 2**20 and "BETASWEEP_MLFLOW_AUTH" not in out
    assert out["PYTHONPATH"].split(os.pathsep) == [mlflow_app.PLUGIN_DIR, REPO, "/elsewhere"]
    found = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; "
                            "print([e.value for e in m.entry_points(group='mlflow.app') if e.name == 'betasweep'])"],
                           env={**os.environ, "PYTHONPATH": out["PYTHONPATH"]}, capture_output=True, text=True)
    assert found.stdout.strip() == "['cluster.mlflow_app:create_app']", found.stderr
    with pytest.raises(SystemExit, match="MLFLOW_SERVER_MAX_UPLOAD_MB"):
        mlflow_server.server_env(server_args(), {**env, "MLFLOW_SERVER_MAX_UPLOAD_MB": "lots"})


@pytest.mark.integration  # runs the CLI in a subprocess (torch and the model classes imported)
def test_dry_run_prints_no_credential():
    password = secrets.token_urlsafe(18)
    env = {**os.environ, "MLFLOW_TRACKING_USERNAME": "ci-user", "MLFLOW_TRACKING_PASSWORD": password,
           "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "PYTHONPATH": REPO}
    out = subprocess.run([sys.executable, "-m", "study.run", "--dry-run", "--num-trials", "2"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "# tracking: http://127.0.0.1:5000" in out.stdout
    assert password not in out.stdout + out.stderr


def request(url, user=None, password=None):
    """HTTP status of a GET (with basic auth when a user is given)."""
    req = urllib.request.Request(url)
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def pg_root():
    """A cluster root the postgres user can reach (pytest's tmp_path lives under a folder private
    to root, which PostgreSQL, running as the postgres user, could not enter)."""
    root = tempfile.mkdtemp(prefix="bsw-pg-", dir="/tmp")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def auth_server(pg_root, monkeypatch):
    """PostgreSQL + MLflow behind basic auth on 127.0.0.1, the trials' login (made by the admin, whose
    login only the server has) in this process's environment."""
    login = {"MLFLOW_TRACKING_USERNAME": "ci-trials", "MLFLOW_TRACKING_PASSWORD": secrets.token_urlsafe(18)}
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    for key, value in {**login, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(key, value)
    info = postgres.start(pg_root, local.free_port())
    state = {"root": pg_root, "backend": "postgres", "auth": True, "postgres": info,
             "mlflow": f"http://127.0.0.1:{local.free_port()}"}
    server = local.start_mlflow(state, local.ray_nodes.environment(state))
    state["mlflow_pid"] = server.pid
    try:
        deadline = time.time() + 180
        while not local.mlflow_healthy(state["mlflow"]):
            assert server.poll() is None and time.time() < deadline, open(f"{pg_root}/mlflow-server.log").read()
            time.sleep(1)
        mlflow_users.provision(state["mlflow"], mlflow_users.login(pg_root, "admin")[0], login)
        yield state, login
    finally:
        processes.stop(processes.group_of(server.pid))
        postgres.stop(info)
        assert processes.gone(server.pid) and processes.gone(info["pid"])


@pytest.mark.integration
def test_postgres_store_behind_basic_auth(auth_server, monkeypatch):
    from mlflow.tracking import MlflowClient

    from analysis.runs import list_studies
    from analysis.schema import Tag
    from study import tracking

    state, login = auth_server
    uri, user, password = state["mlflow"], login["MLFLOW_TRACKING_USERNAME"], login["MLFLOW_TRACKING_PASSWORD"]
    run_id = tracking.start_study_run(uri, "betasweep", "pgauth", params={"beta": 4}, tags={"dataset": "d"})
    MlflowClient(uri).log_metric(run_id, "blur", 1.5, step=1)
    assert list_studies(uri)[Tag.STUDY].tolist() == ["pgauth"]
    search = f"{uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert request(search, user, password) == 200
    assert request(search) == 401 and request(search, user, password + "x") == 401
    assert request(search, "nobody", password) == 401
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password-123")
    with pytest.raises(Exception, match="401"):  # a refused login fails at once, not as an outage
        tracking.wait_until_reachable(uri, timeout=60)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.params["beta"] == "4" and run.data.metrics["blur"] == 1.5
    logged = json.dumps({**run.data.params, **run.data.tags})
    assert password not in logged and user not in logged
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=state["postgres"]["port"], user=postgres.USER, dbname="mlflow",
                            passfile=state["postgres"]["passfile"])
    with conn, conn.cursor() as cur:  # the run really lives in PostgreSQL
        cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (run_id,))
        assert cur.fetchone() is not None
    conn.close()
    assert_no_secret_leaked(state, [password] + list(postgres.read_passwords(state["root"]).values()))


def assert_no_secret_leaked(state, secret_values):
    """No password in the root's files other than its two 0600 ones, nor on a command line."""
    root = state["root"]
    private = {os.path.join(root, postgres.PASSFILE), *(os.path.join(root, v[3]) for v in mlflow_users.LOGINS.values())}
    for path in private:
        if os.path.exists(path):
            assert os.stat(path).st_mode & 0o777 == 0o600
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.isfile(path) and path not in private:
            text = open(path, errors="replace").read()
            assert not [s for s in secret_values if s in text], f"a password leaked into {name}"
    pids = processes.group_of(state.get("mlflow_pid")) + processes.group_of(state["postgres"]["pid"])
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().decode(errors="replace")
        assert not [s for s in secret_values if s in cmdline]

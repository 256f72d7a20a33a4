"""``python -m cluster.mlflow_server``: the project's MLflow tracking server, configured from the
environment — one code path for the local cluster, the Ray cluster launcher and Kubernetes.

It execs ``mlflow server`` (same PID: whoever started it stops it by that PID) lean — job
execution off, artifacts served over HTTP, ``--workers`` server processes (else
``$MLFLOW_SERVER_WORKERS``, else :func:`default_workers`: 4 on PostgreSQL, 1 on SQLite) that
together open at most ``$MLFLOW_SERVER_DB_CONNECTIONS`` (80) database connections
(:func:`pool_settings`) — with:

* the backend store: ``$MLFLOW_BACKEND_STORE_URI`` if set, else PostgreSQL from ``POSTGRES_HOST``,
  ``POSTGRES_PORT`` (5432), ``POSTGRES_DB`` (mlflow) and ``POSTGRES_USER``. The URI never holds the
  password: ``POSTGRES_PASSWORD`` is handed to libpq as ``PGPASSWORD`` (or libpq reads
  ``PGPASSFILE``), so it appears on no command line and in no log. The driver is named
  (``postgresql+psycopg2``): SQLAlchemy ≥ 2.1 would pick psycopg 3 for a bare ``postgresql://``.
* ``--auth``: MLflow's basic-auth app. The admin comes from ``MLFLOW_AUTH_ADMIN_USERNAME`` /
  ``MLFLOW_AUTH_ADMIN_PASSWORD``, which only the server (and :mod:`cluster.mlflow_users`, which
  gives the trials a login of their own) may hold; the trials' ``MLFLOW_TRACKING_USERNAME`` must
  be another user. The users live in ``$POSTGRES_AUTH_DB`` (mlflow_auth, created when missing)
  next to a PostgreSQL store, in ``<name>-auth.db`` next to a SQLite one, or at
  ``$MLFLOW_AUTH_DATABASE_URI``. The config file it writes (``--auth-config``) names that
  database, so it is written 0600. The app's CSRF key is
  ``$MLFLOW_FLASK_SERVER_SECRET_KEY``, else a random one per start (fine for one server; several
  replicas must share one).
* Files it creates are its own: it runs with umask 077, and a SQLite store (and its users' store)
  already there is made 0600.
* Request bodies (artifact uploads) are capped at ``--max-upload-mb`` (else
  ``$MLFLOW_SERVER_MAX_UPLOAD_MB``, else 32 MiB): the server runs :mod:`cluster.mlflow_app`, MLflow's
  app behind that cap.
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import sys
import urllib.parse

from cluster import mlflow_app
from cluster.postgres import write_private

AUTH_INI = """[mlflow]
default_permission = {permission}
database_uri = {database_uri}
admin_username = {admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
auth_cache_ttl_seconds = {cache_seconds}
"""
#: How long a server process trusts a login it has verified (MLflow's ``auth_cache_ttl_seconds``).
DEFAULT_AUTH_CACHE_SECONDS = 60


def postgres_uri(env: dict, database: str) -> str:
    """``postgresql+psycopg2://user@host:port/database`` from ``POSTGRES_*``: no password in it."""
    if not env.get("POSTGRES_HOST"):
        raise SystemExit("error: set MLFLOW_BACKEND_STORE_URI, or POSTGRES_HOST (and POSTGRES_USER, "
                         "POSTGRES_PASSWORD or PGPASSFILE, POSTGRES_PORT, POSTGRES_DB) for PostgreSQL")
    user = urllib.parse.quote(env.get("POSTGRES_USER", "mlflow"), safe="")
    return f"postgresql+psycopg2://{user}@{env['POSTGRES_HOST']}:{env.get('POSTGRES_PORT', '5432')}/{database}"


def default_workers(backend: str) -> int:
    """Server processes for a store: four on PostgreSQL (the cluster store, many trial clients), one
    on SQLite (one machine, few trials; ``--workers`` asks for more). Measured in
    benchmarks/notes/2026-11-27-scale.md."""
    return 1 if backend.startswith("sqlite") else 4


#: Database connections all server processes together may open: below PostgreSQL's default
#: max_connections of 100 (3 of them reserved for superusers), with room for the analysis and psql.
DB_CONNECTIONS = 80


def pool_settings(workers: int, engines: int, budget: int) -> dict[str, str]:
    """MLflow's SQLAlchemy pool variables so that ``workers`` processes with ``engines`` connection
    pools each (tracking store, model registry, and the users' store behind basic auth) stay
    within ``budget`` connections. Past its pool a request waits for a connection instead of being
    refused by the database: with SQLAlchemy's default pool (5 + 10 overflow) four processes at 256
    trial clients opened more than the server allowed, and 843 requests failed with "remaining
    connection slots are reserved" (benchmarks/README.md, "Scale")."""
    per_engine = max(2, budget // (workers * engines))
    size = max(1, per_engine // 2)
    return {"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": str(size),
            "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": str(per_engine - size)}


def backend_store_uri(env: dict) -> str:
    """The tracking store: ``$MLFLOW_BACKEND_STORE_URI``, else PostgreSQL from ``POSTGRES_*``."""
    return env.get("MLFLOW_BACKEND_STORE_URI") or postgres_uri(env, env.get("POSTGRES_DB", "mlflow"))


def auth_database_uri(env: dict, backend: str) -> str:
    """Where basic-auth keeps its users: explicit, else beside the tracking store."""
    if env.get("MLFLOW_AUTH_DATABASE_URI"):
        return env["MLFLOW_AUTH_DATABASE_URI"]
    if backend.startswith("sqlite:///"):
        stem, _ext = os.path.splitext(backend)
        return f"{stem}-auth.db"
    if backend.startswith("postgresql") and env.get("POSTGRES_HOST"):
        return postgres_uri(env, env.get("POSTGRES_AUTH_DB", "mlflow_auth"))
    raise SystemExit("error: --auth with this backend needs MLFLOW_AUTH_DATABASE_URI (where MLflow keeps its users)")


def admin_credentials(env: dict) -> tuple[str, str]:
    """The admin's (username, password) from MLFLOW_AUTH_ADMIN_*; never the trials' login."""
    user, password = env.get("MLFLOW_AUTH_ADMIN_USERNAME"), env.get("MLFLOW_AUTH_ADMIN_PASSWORD")
    if not user or not password:
        raise SystemExit("error: --auth needs MLFLOW_AUTH_ADMIN_USERNAME and MLFLOW_AUTH_ADMIN_PASSWORD "
                         "in the environment (the trials log in as another user: cluster.mlflow_users)")
    if env.get("MLFLOW_TRACKING_USERNAME") == user:
        raise SystemExit(f"error: the trials' login MLFLOW_TRACKING_USERNAME={user} is the MLflow admin; "
                         "give the admin and the trials different users")
    if len(password) < 12:
        raise SystemExit("error: the MLflow password must have at least 12 characters (MLflow's rule)")
    return user, password


def ensure_database(uri: str, env: dict) -> None:
    """Create a PostgreSQL database (the auth store) if missing, connecting to the tracking one:
    a managed PostgreSQL (RDS, the Kubernetes StatefulSet) starts with one database only."""
    import psycopg2

    parts = urllib.parse.urlsplit(uri)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=urllib.parse.unquote(parts.username),
                            dbname=env.get("POSTGRES_DB", "mlflow"), password=env.get("PGPASSWORD"),
                            passfile=env.get("PGPASSFILE"), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def server_env(args: argparse.Namespace, env: dict) -> tuple[list[str], dict]:
    """The ``mlflow server`` command and its environment (the password only in libpq's variable)."""
    env = dict(env)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    if env.get("POSTGRES_PASSWORD"):
        env["PGPASSWORD"] = env.pop("POSTGRES_PASSWORD")
    backend = backend_store_uri(env)
    workers = args.workers or _whole(env.get("MLFLOW_SERVER_WORKERS"), "$MLFLOW_SERVER_WORKERS",
                                     default_workers(backend))
    if not backend.startswith("sqlite"):
        budget = _whole(env.get("MLFLOW_SERVER_DB_CONNECTIONS"), "$MLFLOW_SERVER_DB_CONNECTIONS", DB_CONNECTIONS)
        for name, value in pool_settings(workers, 3 if args.auth else 2, budget).items():
            env.setdefault(name, value)  # a value set by hand wins
    if args.max_upload_mb is not None:
        env["MLFLOW_SERVER_MAX_UPLOAD_MB"] = str(args.max_upload_mb)
    mlflow_app.max_upload_bytes(env)  # a bad value fails here, not in every server process
    here = os.path.dirname(mlflow_app.PLUGIN_DIR)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (mlflow_app.PLUGIN_DIR, os.path.dirname(here),
                                                    env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", args.host, "--port", str(args.port),
           "--workers", str(workers), "--backend-store-uri", backend,
           "--artifacts-destination", args.artifacts_destination, "--app-name", mlflow_app.APP_NAME]
    if args.allowed_hosts:
        cmd += ["--allowed-hosts", args.allowed_hosts]
    if args.auth:
        user, password = admin_credentials(env)
        auth_db = auth_database_uri(env, backend)
        if auth_db.startswith("postgresql"):
            ensure_database(auth_db, env)
        cache = args.auth_cache_seconds
        if cache is None:
            cache = _whole(env.get("MLFLOW_SERVER_AUTH_CACHE_SECONDS"), "$MLFLOW_SERVER_AUTH_CACHE_SECONDS",
                           DEFAULT_AUTH_CACHE_SECONDS, least=0)
        write_private(args.auth_config, AUTH_INI.format(permission=args.default_permission, database_uri=auth_db,
                                                        admin=user, cache_seconds=cache))
        env.update(MLFLOW_AUTH_CONFIG_PATH=os.path.abspath(args.auth_config), MLFLOW_AUTH_ADMIN_USERNAME=user,
                   MLFLOW_AUTH_ADMIN_PASSWORD=password)
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_urlsafe(32))
        env[mlflow_app.AUTH_VAR] = "1"
    return cmd, env


def _whole(text: str | None, name: str = "--workers", default: int | None = None, least: int = 1) -> int:
    """``text`` as a whole number ≥ ``least`` (``default`` when unset), else exit naming the setting."""
    if not text and default is not None:
        return default
    if not text or not text.strip().isdigit() or int(text) < least:
        raise SystemExit(f"error: {name} must be a whole number ≥ {least}, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cluster.mlflow_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="Interface to bind: 127.0.0.1 (default), or the head's cluster address with --auth.")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=_whole, default=None,
                        help="Server processes (default $MLFLOW_SERVER_WORKERS, else 4 on PostgreSQL, 1 on SQLite).")
    parser.add_argument("--artifacts-destination", required=True,
                        help="Where the server stores artifacts (a folder, s3://...): clients upload over HTTP.")
    parser.add_argument("--allowed-hosts", default=None,
                        help="Host headers accepted (MLflow's default: localhost and private addresses).")
    parser.add_argument("--auth", action="store_true", help="Serve behind MLflow's basic-auth app.")
    parser.add_argument("--auth-config", default="mlflow-auth.ini",
                        help="Where to write the basic-auth config file (no secret in it).")
    parser.add_argument("--auth-cache-seconds", type=functools.partial(_whole, name="--auth-cache-seconds", least=0),
                        default=None,
                        help="With --auth: seconds a server process trusts a login it verified instead of hashing the "
                             "password again (default $MLFLOW_SERVER_AUTH_CACHE_SECONDS, else "
                             f"{DEFAULT_AUTH_CACHE_SECONDS}; 0 = verify every request). A password changed or a user "
                             "deleted through the API is dropped at once by the process that served the change, by "
                             "the others within this time.")
    parser.add_argument("--max-upload-mb", type=float, default=None,
                        help="Largest request body (artifact upload) in MiB (default $MLFLOW_SERVER_MAX_UPLOAD_MB, "
                             f"else {mlflow_app.DEFAULT_MAX_UPLOAD_MB}; 0 = no limit).")
    parser.add_argument("--default-permission", default="READ",
                        help="What users other than the admin may do by default (MLflow's default: READ).")
    return parser


def private_stores(env: dict) -> None:
    """From now on, files this server creates are its own (umask 077: the SQLite stores, local
    artifacts); SQLite stores created before are made 0600."""
    os.umask(0o077)
    backend = backend_store_uri(env)
    users = env.get("MLFLOW_AUTH_DATABASE_URI") or (auth_database_uri(env, backend) if backend.startswith("sqlite")
                                                    else "")
    for uri in (backend, users):
        path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else None
        if path and os.path.exists(path):
            os.chmod(path, 0o600)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cmd, env = server_env(args, dict(os.environ))
    private_stores(env)
    if args.auth:
        mlflow_app.bootstrap_auth(env)
    sys.stdout.flush()
    os.execve(cmd[0], cmd, env)
    return 1  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())

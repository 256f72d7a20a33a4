"""A PostgreSQL server for the local cluster's MLflow store: Debian's ``postgresql`` binaries, its own
data dir under the cluster root, listening on 127.0.0.1 only (no Unix socket), stopped by its PID.

Why its own server rather than the system's: ``cluster.local`` must never touch services it did not
start, and a data dir under the root keeps the store with the rest of the cluster (``down`` and
``up`` again on the same root find their runs). PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` user that Debian's package creates (``BETASWEEP_PG_USER`` picks
another); as anyone else it runs as that user.

Passwords are generated here, never printed, and kept in one libpq password file
(``<root>/postgres.pgpass``, mode 0600): libpq reads it through ``PGPASSFILE``, so no URI, command
line, log or bookkeeping file carries a password.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time

from cluster import processes

DATA_DIR = "postgres"
PASSFILE = "postgres.pgpass"
LOG = "postgres.log"
#: The role MLflow connects as, and its databases: the tracking store and the basic-auth user store.
USER = "mlflow"
DATABASES = ("mlflow", "mlflow_auth")
SUPERUSER = "postgres"
INSTALL_HINT = "install PostgreSQL: apt-get update && apt-get install -y postgresql"


def binaries() -> str:
    """The folder holding ``initdb`` and ``postgres``: the newest /usr/lib/postgresql/<ver>/bin
    (Debian keeps them off PATH), else the folder of an ``initdb`` on PATH."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    initdb = versions[-1] if versions else shutil.which("initdb")
    if not initdb or not os.path.exists(os.path.join(os.path.dirname(initdb), "postgres")):
        raise RuntimeError(f"PostgreSQL binaries (initdb, postgres) not found; {INSTALL_HINT}")
    return os.path.dirname(os.path.realpath(initdb))


def server_account() -> pwd.struct_passwd:
    """The account the server runs as: ``postgres`` (or ``$BETASWEEP_PG_USER``) as root, else us."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    name = os.environ.get("BETASWEEP_PG_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"PostgreSQL refuses to run as root and there is no user {name!r} to run it as; "
                           f"{INSTALL_HINT} (it creates the postgres user)") from None


def _as(account: pwd.struct_passwd) -> dict:
    """Popen arguments that run a command as ``account``, with a minimal environment."""
    kwargs = {"cwd": "/", "env": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": account.pw_dir}}
    if account.pw_uid != os.geteuid():
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    return kwargs


def write_private(path: str, text: str, owner: pwd.struct_passwd | None = None) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600 from the start, not chmod later)."""
    if os.path.exists(path):
        os.remove(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if owner is not None and owner.pw_uid != os.geteuid():
        os.chown(path, owner.pw_uid, owner.pw_gid)


def read_passwords(root: str) -> dict[str, str]:
    """user → password from the root's password file ({} before the first ``up``)."""
    path = os.path.join(root, PASSFILE)
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return {line.split(":")[3]: line.rstrip("\n").split(":", 4)[4] for line in handle if line.count(":") >= 4}


def _make_reachable(root: str, account: pwd.struct_passwd) -> None:
    """As root, let ``account`` pass through the cluster root (search bit only: it cannot list it),
    and fail clearly when a folder above it is closed to that user."""
    if account.pw_uid == os.geteuid():
        return
    os.chmod(root, os.stat(root).st_mode | 0o001)
    if subprocess.run(["test", "-x", root], **_as(account)).returncode != 0:
        raise RuntimeError(f"the {account.pw_name} user cannot reach {root} (a folder above it is private, e.g. "
                           f"pytest's /tmp/pytest-of-root); choose a --root under a folder others can traverse")


def initdb(root: str, bin_dir: str, account: pwd.struct_passwd) -> dict[str, str]:
    """Create the data dir (once) with a generated superuser password; returns the passwords."""
    data = os.path.join(root, DATA_DIR)
    passwords = read_passwords(root)
    if os.path.exists(os.path.join(data, "PG_VERSION")):
        if SUPERUSER not in passwords:
            raise RuntimeError(f"{data} exists but {os.path.join(root, PASSFILE)} lost its passwords; "
                               "remove the data dir to start afresh")
        return passwords
    passwords = {SUPERUSER: secrets.token_urlsafe(24), USER: secrets.token_urlsafe(24)}
    os.makedirs(data, exist_ok=True)
    os.chown(data, account.pw_uid, account.pw_gid)
    os.chmod(data, 0o700)
    pwfile = os.path.join(root, "postgres-init.pw")
    write_private(pwfile, passwords[SUPERUSER] + "\n", owner=account)
    try:
        out = subprocess.run([os.path.join(bin_dir, "initdb"), "-D", data, "-U", SUPERUSER, "--pwfile", pwfile,
                              "--auth", "scram-sha-256", "-E", "UTF8", "--no-instructions"],
                             capture_output=True, text=True, timeout=180, **_as(account))
    finally:
        os.remove(pwfile)
    if out.returncode != 0:
        raise RuntimeError(f"initdb failed: {out.stderr[-2000:]}")
    write_private(os.path.join(root, PASSFILE),
                  "".join(f"127.0.0.1:*:*:{user}:{pw}\n" for user, pw in passwords.items()))
    return passwords


def _connect(port: int, user: str, password: str, dbname: str = "postgres"):
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=dbname,
                            connect_timeout=3)


def wait_ready(proc: subprocess.Popen, port: int, password: str, timeout: float) -> None:
    """Until the server accepts the superuser's login (or died, or ``timeout`` passed)."""
    deadline = time.time() + timeout
    while True:
        try:
            _connect(port, SUPERUSER, password).close()
            return
        except Exception as exc:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {type(exc).__name__}") from None
            time.sleep(0.5)


def create_databases(port: int, passwords: dict[str, str]) -> None:
    """The ``mlflow`` role (its password from the password file) and its databases, if missing."""
    conn = _connect(port, SUPERUSER, passwords[SUPERUSER])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (USER,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE ROLE {USER} LOGIN PASSWORD %s", (passwords[USER],))
            for name in DATABASES:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {name} OWNER {USER}")
    finally:
        conn.close()


def start(root: str, port: int, timeout: float = 120) -> dict:
    """Start the server on 127.0.0.1:``port``: initdb on the first call, the role and databases;
    returns what ``stop`` and the MLflow server need (PID, port, data dir, password file)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise RuntimeError("the PostgreSQL driver is missing: pip install 'betasweep[postgres]' "
                           "(psycopg2-binary)") from None
    root = os.path.abspath(root)
    bin_dir, account = binaries(), server_account()
    _make_reachable(root, account)
    passwords = initdb(root, bin_dir, account)
    data = os.path.join(root, DATA_DIR)
    log = open(os.path.join(root, LOG), "a")
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "postgres"), "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
         "-c", "unix_socket_directories=", "-c", "max_connections=100", "-c", "shared_buffers=32MB"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **_as(account))
    log.close()
    info = {"pid": proc.pid, "port": port, "data_dir": data, "user": account.pw_name,
            "passfile": os.path.join(root, PASSFILE)}
    try:
        wait_ready(proc, port, passwords[SUPERUSER], timeout)
        create_databases(port, passwords)
    except Exception:
        stop(info)
        raise
    return info


def stop(info: dict, grace: float = 30.0) -> None:
    """Stop the server by its postmaster PID: fast shutdown (SIGINT: clients disconnected, data
    flushed), then immediate shutdown (SIGQUIT), then SIGKILL, each after ``grace`` seconds."""
    if info.get("pid"):
        processes.stop([info["pid"]], (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL), grace)


def connection_env(info: dict) -> dict[str, str]:
    """The environment an MLflow server needs to reach this PostgreSQL (no password: libpq reads
    it from the password file)."""
    return {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(info["port"]), "POSTGRES_USER": USER,
            "POSTGRES_DB": DATABASES[0], "POSTGRES_AUTH_DB": DATABASES[1], "PGPASSFILE": info["passfile"]}

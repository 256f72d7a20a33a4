"""``python -m cluster.mlflow_users``: the trials' own MLflow login, set up by the admin.

Least privilege behind MLflow's basic auth: the admin's credentials (``MLFLOW_AUTH_ADMIN_USERNAME``
/ ``MLFLOW_AUTH_ADMIN_PASSWORD``) stay with the MLflow server and whoever runs this; the drivers
and trials get another login (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``): a user
that is no admin, with EDIT on the study's experiment — it creates and logs runs there, reads the
rest (the server's default permission, READ), and cannot create users, change permissions or
delete experiments or runs. :func:`provision` makes it so through the auth app's REST API (the
routes of ``mlflow.server.auth.routes``): it creates the user (or resets its password and takes
away an admin flag an earlier setup gave it), creates the experiment if missing (as the admin, so
the trials' user is not its owner) and grants EDIT on it. Idempotent: run at every start.

``cluster.local up --auth`` calls it, with the two logins from :func:`login` (the environment, else
files generated under the cluster root, 0600); on the launcher's head and in the Kubernetes MLflow
pod it runs after the server, with both logins in its environment::

    python -m cluster.mlflow_users --tracking-uri http://$HEAD_IP:5000 --experiment betasweep
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time

TRIAL_PERMISSION = "EDIT"
#: kind → (user variable, password variable, default user, file under a local cluster's root)
LOGINS = {"trials": ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "betasweep", "mlflow-auth.env"),
          "admin": ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "betasweep-admin", "mlflow-admin.env")}


def login(root: str, kind: str) -> tuple[dict[str, str], str]:
    """A local cluster's ``trials`` or ``admin`` login and where it came from: its two variables
    from the environment, else ``<root>/<file>`` (0600), generated on the first ``up`` and reused
    after (the auth store keeps the admin's first password)."""
    user_var, password_var, default_user, name = LOGINS[kind]
    if os.environ.get(user_var) and os.environ.get(password_var):
        return {user_var: os.environ[user_var], password_var: os.environ[password_var]}, "environment"
    path = os.path.join(root, name)
    if not os.path.exists(path):
        from cluster.postgres import write_private

        write_private(path, f"{user_var}={default_user}\n{password_var}={secrets.token_urlsafe(24)}\n")
    with open(path) as handle:
        pairs = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
    return pairs, path


class _Api:
    """MLflow's REST API as one user (basic auth), failing loudly on an unexpected status."""

    def __init__(self, url: str, user: str, password: str):
        import requests

        self.url, self.session = url.rstrip("/"), requests.Session()
        self.session.auth = (user, password)

    def call(self, method: str, path: str, ok=(200,), **kwargs):
        resp = self.session.request(method, self.url + path, timeout=30, **kwargs)
        if resp.status_code not in ok:
            raise RuntimeError(f"MLflow {method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
        return resp


def wait_healthy(url: str, timeout: float) -> None:
    import requests

    deadline = time.time() + timeout
    while True:
        try:
            if requests.get(f"{url.rstrip('/')}/health", timeout=3).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.time() > deadline:
            raise RuntimeError(f"MLflow at {url} did not answer /health in {timeout:.0f}s")
        time.sleep(1)


def provision(url: str, admin: dict[str, str], trials: dict[str, str], experiment: str = "betasweep",
              timeout: float = 120) -> str:
    """Make the ``trials`` login a non-admin user with EDIT on ``experiment`` (created if missing),
    acting as ``admin`` (both: variable → value, as :func:`login` returns them); returns the
    experiment's id."""
    from mlflow.server.auth import routes

    admin_user, admin_password = (admin[v] for v in LOGINS["admin"][:2])
    user, password = (trials[v] for v in LOGINS["trials"][:2])
    if user == admin_user:
        raise RuntimeError(f"the trials' MLflow login {user!r} is the admin; give the trials a user of their own")
    wait_healthy(url, timeout)
    api = _Api(url, admin_user, admin_password)
    if api.call("GET", routes.GET_USER, ok=(200, 404), params={"username": user}).status_code == 404:
        api.call("POST", routes.CREATE_USER, json={"username": user, "password": password})
    else:  # from an earlier start (maybe as the admin of an older setup): its password and no admin flag
        api.call("PATCH", routes.UPDATE_USER_PASSWORD, json={"username": user, "password": password})
        api.call("PATCH", routes.UPDATE_USER_ADMIN, json={"username": user, "is_admin": False})
    found = api.call("GET", "/api/2.0/mlflow/experiments/get-by-name", ok=(200, 404),
                     params={"experiment_name": experiment})
    if found.status_code == 200:
        experiment_id = found.json()["experiment"]["experiment_id"]
    else:
        experiment_id = api.call("POST", "/api/2.0/mlflow/experiments/create",
                                 json={"name": experiment}).json()["experiment_id"]
    api.call("POST", routes.GRANT_USER_PERMISSION, json={"username": user, "resource_type": "experiment",
                                                         "resource_id": experiment_id,
                                                         "permission": TRIAL_PERMISSION})
    return experiment_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.mlflow_users", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="The MLflow server (default $MLFLOW_TRACKING_URI).")
    parser.add_argument("--experiment", default="betasweep", help="The studies' experiment (default betasweep).")
    parser.add_argument("--wait", type=float, default=300, help="Seconds to wait for the server (default 300).")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    missing = [n for k in LOGINS for n in LOGINS[k][:2] if not env.get(n)]
    missing += [] if args.tracking_uri else ["--tracking-uri"]
    if missing:
        print(f"error: set {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        experiment_id = provision(args.tracking_uri, env, env, args.experiment, args.wait)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"MLflow user {env['MLFLOW_TRACKING_USERNAME']}: {TRIAL_PERMISSION} on experiment {args.experiment} "
          f"({experiment_id}); not an admin")
    return 0


if __name__ == "__main__":
    sys.exit(main())

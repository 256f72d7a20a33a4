"""The MLflow server app ``cluster.mlflow_server`` runs: MLflow's own (with basic auth or without)
behind a cap on request bodies, so that whoever may log artifacts cannot fill the artifact store's
disk or the server's memory with one upload.

Neither MLflow (its artifact PUT streams the body to the store), uvicorn nor Starlette bounds a
request body, so :class:`BoundedBody` does, as ASGI middleware around MLflow's app: a declared
``Content-Length`` above the cap is refused with 413 before the app sees the request; a chunked
body is counted and cut off at the cap (413, and the app sees the client go). The cap is
``$MLFLOW_SERVER_MAX_UPLOAD_MB`` (default :data:`DEFAULT_MAX_UPLOAD_MB`; 0 = none).

``mlflow server`` runs apps registered under the ``mlflow.app`` entry points; ours is registered
by the folder :data:`PLUGIN_DIR` (a ``.dist-info`` with the entry point ``betasweep =
cluster.mlflow_app:create_app``), which ``cluster.mlflow_server`` puts on the server's
``PYTHONPATH`` — no install needed, the same on every path. Behind a proxy (an ingress, a load
balancer) set the same cap there too (cluster/README.md, "Upload limits").
"""

from __future__ import annotations

import os

DEFAULT_MAX_UPLOAD_MB = 32
#: Set by ``cluster.mlflow_server --auth``: wrap MLflow's basic-auth app rather than the plain one.
AUTH_VAR = "BETASWEEP_MLFLOW_AUTH"
PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlflow_plugin")
APP_NAME = "betasweep"


def max_upload_bytes(env=os.environ) -> int:
    text = env.get("MLFLOW_SERVER_MAX_UPLOAD_MB", str(DEFAULT_MAX_UPLOAD_MB))
    try:
        megabytes = float(text)
    except ValueError:
        raise SystemExit(f"error: $MLFLOW_SERVER_MAX_UPLOAD_MB must be a number of MiB, not {text!r}") from None
    return int(megabytes * 1024 * 1024)


class BoundedBody:
    """ASGI middleware: HTTP request bodies larger than ``limit`` bytes are refused with 413."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.limit <= 0:
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        seen, state = 0, {"started": False, "refused": False}

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if not state["started"]:
                        state["refused"] = True
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message):
            if state["refused"]:
                return  # the app's own answer to the "disconnect": 413 was sent already
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not state["refused"]:
                raise

    async def _refuse(self, send) -> None:
        body = f"request body larger than the server's limit of {self.limit} bytes".encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def create_app():
    """MLflow's app (the basic-auth one with ``$BETASWEEP_MLFLOW_AUTH``), its bodies bounded."""
    if os.environ.get(AUTH_VAR) == "1":
        from mlflow.server.auth import create_app as auth_app

        app = auth_app()
    else:
        from mlflow.server.fastapi_app import app
    return BoundedBody(app, max_upload_bytes())


def bootstrap_auth(env: dict) -> None:
    """Create the basic-auth admin once, before the server's workers start (what ``mlflow server
    --app-name basic-auth`` does; with our app name each worker would race to do it)."""
    os.environ.update(env)  # the auth app reads its settings at import; this process execs the server next
    from mlflow.server.auth import bootstrap_admin_user, get_flask_server_secret_key

    get_flask_server_secret_key()
    bootstrap_admin_user()
    env["_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED"] = "true"  # MLflow's own marker: the workers skip it

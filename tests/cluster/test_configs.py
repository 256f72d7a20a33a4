"""The cluster configs are real: the launcher YAML passes Ray's own schema, the KubeRay manifests
carry what KubeRay needs, the runtime env keeps uploads small, the image installs the package."""

import json
import os
import re

import jsonschema
import pytest
import ray
import yaml

CLUSTER = os.path.join(os.path.dirname(__file__), "..", "..", "cluster")


def load(name):
    """The first document of a config file (a Ray manifest's cluster; its NetworkPolicy follows)."""
    with open(os.path.join(CLUSTER, name)) as handle:
        return next(yaml.safe_load_all(handle))


def launcher_config():
    """aws-gpu.yaml with the cluster name `ray up -n betasweep-ci` gives it (the file has none)."""
    return {**load("aws-gpu.yaml"), "cluster_name": "betasweep-ci"}


def test_launcher_yaml_validates_against_rays_schema():
    schema_path = os.path.join(os.path.dirname(ray.__file__), "autoscaler", "ray-schema.json")
    with open(schema_path) as handle:
        schema = json.load(handle)
    config = launcher_config()
    jsonschema.validate(config, schema)
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(config))  # Ray's own check, after filling its defaults as `ray up` does
    types = config["available_node_types"]
    assert types["head"]["resources"] == {"CPU": 0}
    gpu_worker = types["gpu_worker"]
    assert gpu_worker["min_workers"] == 0 and gpu_worker["node_config"]["InstanceType"].startswith("g")
    head_ray, server = config["head_start_ray_commands"][1:]
    assert "ray start --head" in head_ray and "--dashboard-host=127.0.0.1" in head_ray
    # MLflow on the head's cluster address, behind basic auth, its store from ~/postgres.env
    assert "python -m cluster.mlflow_server --auth --host $HEAD_IP" in server and "127.0.0.1 " not in server
    assert ". ~/postgres.env" in server and "--artifacts-destination s3://" in server
    # every node starts Ray with the login and the server's address; the database password stays out of Ray
    workers = " ".join(config["worker_start_ray_commands"])
    for start in (head_ray, workers):
        assert ". ~/mlflow-login.env" in start and "MLFLOW_TRACKING_URI=http://" in start
        assert "postgres.env" not in start
    assert all(local.startswith("~/.betasweep/") for local in config["file_mounts"].values())
    assert any("[data,postgres,auth]" in c for c in config["setup_commands"])


def test_kuberay_manifests():
    cluster = load("kuberay/raycluster.yaml")
    job = load("kuberay/rayjob.yaml")
    for doc in (cluster, job):
        assert doc["apiVersion"] == "ray.io/v1"
    assert cluster["kind"] == "RayCluster" and job["kind"] == "RayJob"
    assert "python -m study.run" in job["spec"]["entrypoint"]
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
    assert "MLFLOW_TRACKING_URI" in env and "RAY_AUTH_MODE" not in env  # the pods' own setting holds
    for spec in (cluster["spec"], job["spec"]["rayClusterSpec"]):
        assert spec["enableInTreeAutoscaling"] is True
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
        assert head["image"]
        group = spec["workerGroupSpecs"][0]
        assert group["minReplicas"] == 0 and group["maxReplicas"] >= 1
        worker = group["template"]["spec"]["containers"][0]
        assert worker["image"] and worker["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_runtime_env_and_dockerfile():
    env = load("runtime_env.yaml")
    assert {".venv", ".git", "betasweep-runs", "*.db", "betasweep-cluster", "*.pgpass", "mlflow-auth.env",
            "ray-token"} <= set(env["excludes"])
    assert "RAY_AUTH_MODE" not in env["env_vars"]  # a job neither carries the token nor turns auth off
    assert "MLFLOW_TRACKING_URI" not in env["env_vars"]  # the nodes know where MLflow is
    with open(os.path.join(CLUSTER, "Dockerfile")) as handle:
        docker = handle.read()
    assert docker.startswith("#") and "FROM rayproject/ray:" in docker
    assert 'pip install --no-cache-dir -e ".[data,postgres,auth]"' in docker
    lowered = docker.lower()
    for secret in ("password", "aws_access_key", "api_key", "ray_auth_token="):
        assert secret not in lowered
    assert "ENV RAY_AUTH_MODE=token" in docker


KUBE = ["kuberay/base.yaml", "kuberay/network.yaml", "kuberay/postgres.yaml", "kuberay/mlflow.yaml",
        "kuberay/raycluster.yaml", "kuberay/rayjob.yaml", "kuberay/ingress.yaml"]


@pytest.mark.parametrize("name", ["aws-gpu.yaml", "runtime_env.yaml", *KUBE])
def test_no_credentials_in_configs(name):
    with open(os.path.join(CLUSTER, name)) as handle:
        text = handle.read()
    for secret in ("aws_secret_access_key", "password:", "api_key"):
        assert secret not in text.lower()
    assert not re.search(r"(?i)(?<![\w/.~-])\w*token\s*:\s*\S", text)  # a token as a key, with a value
    # a password-like variable is only ever named or referenced ($VAR, "..."), never given a value
    for match in re.finditer(r"(?i)(password|secret_key)\w*\s*[=:]\s*([^\s,}]*)", text):
        assert match.group(2) in ("", "...") or match.group(2).startswith("$"), match.group(0)
    for doc in yaml.safe_load_all(text):
        assert doc.get("kind") != "Secret"  # Secrets are created with kubectl, never kept in the repo
        for entry in each(doc, "env"):
            for var in entry:
                if any(word in var["name"] for word in ("PASSWORD", "SECRET", "TOKEN")):
                    assert "value" not in var and "secretKeyRef" in var["valueFrom"], var


def each(node, key):
    """Every value stored under ``key`` anywhere in a parsed YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from each(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from each(item, key)


def documented_secrets():
    """Secret name → keys, from cluster/README.md's `kubectl create secret generic` commands."""
    with open(os.path.join(CLUSTER, "README.md")) as handle:
        text = handle.read().replace("\\\n", " ")
    return {m.group(1): set(re.findall(r"--from-literal=(\w+)=", m.group(2)))
            for m in re.finditer(r"create secret generic (\S+)([^\n]*)", text)}


def test_kuberay_manifests_reference_what_exists():
    docs = []
    for name in KUBE:
        with open(os.path.join(CLUSTER, name)) as handle:
            docs += [doc for doc in yaml.safe_load_all(handle) if doc]
    defined = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert ("Namespace", "betasweep") in defined
    assert all(d["metadata"].get("namespace") == "betasweep" for d in docs if d["kind"] != "Namespace")
    for claim in each(docs, "claimName"):
        assert ("PersistentVolumeClaim", claim) in defined
    secrets = documented_secrets()
    for ref in each(docs, "secretKeyRef"):
        assert ref["key"] in secrets.get(ref["name"], set()), f"secret {ref} not in cluster/README.md"
    text = yaml.safe_dump_all(docs)
    for host, port in set(re.findall(r"([a-z0-9-]+)\.betasweep\.svc(?::(\d+))?", text)):
        service = defined.get(("Service", host))
        assert service, f"no Service {host}"
        assert not port or int(port) in [p["port"] for p in service["spec"]["ports"]]
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for w in workloads:
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert w["spec"]["selector"]["matchLabels"].items() <= labels.items()
        if w["kind"] == "StatefulSet":
            assert ("Service", w["spec"]["serviceName"]) in defined
    for (kind, _name), service in defined.items():
        if kind == "Service":
            assert any(service["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()
                       for w in workloads)


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_mlflow_on_postgres_behind_auth_for_every_ray_pod():
    with open(os.path.join(CLUSTER, "kuberay/mlflow.yaml")) as handle:
        deployment = next(d for d in yaml.safe_load_all(handle) if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:4] == ["python", "-m", "cluster.mlflow_server", "--auth"]
    env = env_of(container)
    assert env["POSTGRES_HOST"] == "postgres.betasweep.svc"
    assert env["POSTGRES_PASSWORD"]["secretKeyRef"]["name"] == "betasweep-postgres"
    cluster, job = load("kuberay/raycluster.yaml"), load("kuberay/rayjob.yaml")
    for spec in (cluster["spec"], job["spec"]["rayClusterSpec"]):
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            env = env_of(group["template"]["spec"]["containers"][0])
            for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
                assert env[var]["secretKeyRef"]["name"] == "betasweep-mlflow-login"

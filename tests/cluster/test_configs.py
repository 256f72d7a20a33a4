"""The cluster configs are real: the launcher YAML passes Ray's own schema, the KubeRay manifests
carry what KubeRay needs, the runtime env keeps uploads small, the image installs the package."""

import json
import os

import jsonschema
import pytest
import ray
import yaml

CLUSTER = os.path.join(os.path.dirname(__file__), "..", "..", "cluster")


def load(name):
    with open(os.path.join(CLUSTER, name)) as handle:
        return yaml.safe_load(handle)


def test_launcher_yaml_validates_against_rays_schema():
    schema_path = os.path.join(os.path.dirname(ray.__file__), "autoscaler", "ray-schema.json")
    with open(schema_path) as handle:
        schema = json.load(handle)
    config = load("aws-gpu.yaml")
    jsonschema.validate(config, schema)
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(config))  # Ray's own check, after filling its defaults as `ray up` does
    types = config["available_node_types"]
    assert types["head"]["resources"] == {"CPU": 0}
    gpu_worker = types["gpu_worker"]
    assert gpu_worker["min_workers"] == 0 and gpu_worker["node_config"]["InstanceType"].startswith("g")
    start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start and "--host 127.0.0.1" in start and "--workers 1" in start
    assert "--artifacts-destination" in start and "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in start


def test_kuberay_manifests():
    cluster = load("kuberay/raycluster.yaml")
    job = load("kuberay/rayjob.yaml")
    for doc in (cluster, job):
        assert doc["apiVersion"] == "ray.io/v1"
    assert cluster["kind"] == "RayCluster" and job["kind"] == "RayJob"
    assert "python -m study.run" in job["spec"]["entrypoint"]
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
    assert "MLFLOW_TRACKING_URI" in env and env["RAY_AUTH_MODE"] == "disabled"
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
    assert {".venv", ".git", "betasweep-runs", "*.db"} <= set(env["excludes"])
    assert env["env_vars"]["RAY_AUTH_MODE"] == "disabled"
    with open(os.path.join(CLUSTER, "Dockerfile")) as handle:
        docker = handle.read()
    assert docker.startswith("#") and "FROM rayproject/ray:" in docker and "pip install --no-cache-dir -e ." in docker
    lowered = docker.lower()
    for secret in ("password", "secret", "token", "aws_access_key", "api_key"):
        assert secret not in lowered


@pytest.mark.parametrize("name", ["aws-gpu.yaml", "runtime_env.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml"])
def test_no_credentials_in_configs(name):
    with open(os.path.join(CLUSTER, name)) as handle:
        text = handle.read().lower()
    for secret in ("aws_secret_access_key", "password:", "token:", "api_key"):
        assert secret not in text

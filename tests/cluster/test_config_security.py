"""The security properties of the cluster configs, read from the files as `ray up` and `kubectl
apply` would read them (cluster/SECURITY.md): Ray's token auth on everywhere, the KubeRay
NetworkPolicies and ingress, the AWS launcher's own group, private subnets and required name."""

import os
import re

import jsonschema
import pytest
import yaml

from tests.cluster.test_configs import CLUSTER, KUBE, documented_secrets, each, launcher_config, load

CONFIGS = ["aws-gpu.yaml", "runtime_env.yaml", "Dockerfile", *KUBE, *(
    f for f in os.listdir(CLUSTER) if f.endswith(".py"))]
TOKEN_SECRET = {"name": "betasweep-ray-token", "key": "auth_token"}


def docs(name):
    with open(os.path.join(CLUSTER, name)) as handle:
        return [d for d in yaml.safe_load_all(handle) if d]


def all_kube_docs():
    return [d for name in KUBE for d in docs(name)]


def ray_clusters():
    """(name, RayCluster spec) of every Ray cluster the manifests create."""
    cluster, job = load("kuberay/raycluster.yaml"), load("kuberay/rayjob.yaml")
    return [(cluster["metadata"]["name"], cluster["spec"]), (job["metadata"]["name"], job["spec"]["rayClusterSpec"])]


def groups(spec):
    return [spec["headGroupSpec"], *spec["workerGroupSpecs"]]


@pytest.mark.parametrize("name", CONFIGS)
def test_no_config_turns_ray_auth_off(name):
    with open(os.path.join(CLUSTER, name)) as handle:
        text = handle.read()
    assert not re.search(r"RAY_AUTH_MODE[^\n]{0,30}disabled", text), name
    assert "setdefault(\"RAY_AUTH_MODE\"" not in text


def test_every_ray_pod_runs_with_the_token_from_its_secret():
    """RAY_AUTH_MODE=token and RAY_AUTH_TOKEN from the Secret in every Ray container (any KubeRay),
    authOptions naming the same Secret (KubeRay >= 1.6: the submitter, autoscaler, operator), and
    the Secret documented with its key; a head whose dashboard leaves loopback has the token."""
    assert TOKEN_SECRET["key"] in documented_secrets()[TOKEN_SECRET["name"]]
    for _, spec in ray_clusters():
        assert spec["authOptions"] == {"mode": "token", "secretName": TOKEN_SECRET["name"]}
        for group in groups(spec):
            for container in group["template"]["spec"]["containers"]:
                env = {e["name"]: e for e in container["env"]}
                assert env["RAY_AUTH_MODE"]["value"] == "token"
                assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == TOKEN_SECRET
    job = load("kuberay/rayjob.yaml")
    assert "RAY_AUTH" not in job["spec"]["runtimeEnvYAML"] and "RAY_AUTH" not in str(load("runtime_env.yaml"))


def policies():
    return {d["metadata"]["name"]: d["spec"] for d in all_kube_docs() if d["kind"] == "NetworkPolicy"}


def selects(selector, labels):
    """Does a Kubernetes label selector (matchLabels / matchExpressions Exists) select ``labels``?"""
    if selector.get("matchLabels", {}).items() - labels.items():
        return False
    return all(e["operator"] == "Exists" and e["key"] in labels for e in selector.get("matchExpressions", []))


def sources(spec, port):
    """The `from` entries that may reach ``port`` of the pods a policy selects."""
    return [peer for rule in spec.get("ingress", []) for peer in rule["from"]
            if not rule.get("ports") or port in [p["port"] for p in rule["ports"]]]


def pod_labels(app):
    """The pod labels of the Deployment/StatefulSet whose pods are ``app``."""
    workloads = [d for d in all_kube_docs() if d["kind"] in ("Deployment", "StatefulSet")]
    return next(w["spec"]["template"]["metadata"]["labels"] for w in workloads
                if w["spec"]["template"]["metadata"]["labels"]["app"] == app)


def test_network_policies_deny_by_default_and_open_each_service_to_its_clients_only():
    pol = policies()
    assert pol["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    postgres, mlflow = pod_labels("betasweep-postgres"), pod_labels("betasweep-mlflow")
    for spec in pol.values():  # nobody but MLflow reaches PostgreSQL, on any port
        if selects(spec["podSelector"], postgres) and spec["podSelector"]:
            assert spec["ingress"] == [{"from": [{"podSelector": {"matchLabels": mlflow}}],
                                        "ports": [{"protocol": "TCP", "port": 5432}]}]
    mlflow_from = sources(pol["mlflow-from-ray"], 5000)
    assert selects(pol["mlflow-from-ray"]["podSelector"], mlflow) and len(mlflow_from) == 2
    assert mlflow_from[0] == {"podSelector": {"matchExpressions": [{"key": "betasweep/ray-cluster",
                                                                    "operator": "Exists"}]}}
    assert set(mlflow_from[1]) == {"namespaceSelector"}  # the ingress controller (TLS: ingress.yaml)
    assert not [p for s in pol.values() for r in s.get("ingress", []) for p in r["from"] if "ipBlock" in p]


def test_each_ray_cluster_is_reachable_from_its_own_pods_and_its_dashboard_only_from_named_peers():
    pol = policies()
    for name, spec in ray_clusters():
        labels = {"betasweep/ray-cluster": name}
        for group in groups(spec):
            assert group["template"]["metadata"]["labels"] == labels
        own = [s for s in pol.values() if selects(s["podSelector"], labels) and s["podSelector"]]
        assert len(own) == 1, name
        rules = own[0]["ingress"]
        assert rules[0] == {"from": [{"podSelector": {"matchLabels": labels}}]}  # all Ray ports, own pods
        for rule in rules[1:]:
            assert rule["ports"] == [{"protocol": "TCP", "port": 8265}]  # the token-guarded Jobs API only
        mlflow = next(s for s in pol.values() if s["podSelector"].get("matchLabels") == {"app": "betasweep-mlflow"})
        assert any(selects(peer.get("podSelector", {"matchLabels": {"-": "-"}}), labels)
                   for peer in sources(mlflow, 5000))
        host = spec["headGroupSpec"]["rayStartParams"].get("dashboard-host", "0.0.0.0")  # KubeRay's default
        assert host in ("127.0.0.1", "localhost") or spec["authOptions"]["mode"] == "token"


def test_ingress_serves_only_tls_to_the_two_user_facing_services():
    ingress = next(d for d in docs("kuberay/ingress.yaml") if d["kind"] == "Ingress")["spec"]
    hosts = [rule["host"] for rule in ingress["rules"]]
    assert ingress["ingressClassName"] and sorted(ingress["tls"][0]["hosts"]) == sorted(hosts)
    backends = {(p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
                for rule in ingress["rules"] for p in rule["http"]["paths"]}
    cluster = load("kuberay/raycluster.yaml")["metadata"]["name"]
    assert backends == {("mlflow", 5000), (f"{cluster}-head-svc", 8265)}  # KubeRay names the head Service
    controller = {str(p["namespaceSelector"]) for s in policies().values()
                  for r in s.get("ingress", []) for p in r["from"] if "namespaceSelector" in p
                  and "kuberay" not in str(p)}
    assert len(controller) == 1  # one ingress controller namespace, admitted to 5000 and 8265 only


def test_aws_launcher_has_its_own_group_private_subnets_required_name_and_the_token():
    import ray
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = load("aws-gpu.yaml")
    assert raw["cluster_name"] is None  # required: `ray up -n <name>` (cluster/README.md)
    with pytest.raises(jsonschema.ValidationError, match="cluster_name|None is not of type"):
        validate_config(prepare_config(raw))
    config = prepare_config(launcher_config())
    validate_config(config)
    assert config["provider"]["use_internal_ips"] is True
    for node_type in config["available_node_types"].values():
        assert node_type["node_config"]["SubnetIds"] and node_type["node_config"]["SecurityGroupIds"]
    # given SecurityGroupIds for every node type, Ray creates no group of its own (which would open
    # SSH to 0.0.0.0/0): its AWS bootstrap configures only the node types without them
    with open(os.path.join(os.path.dirname(ray.__file__), "autoscaler/_private/aws/config.py")) as handle:
        assert 'if "SecurityGroupIds" not in node_type["node_config"]' in handle.read()
    with open(os.path.join(CLUSTER, "aws-gpu.yaml")) as handle:
        assert "0.0.0.0" not in handle.read()
    assert config["file_mounts"]["~/ray-token"] == "~/.betasweep/ray-token"
    head, workers = config["head_start_ray_commands"][1], " ".join(config["worker_start_ray_commands"])
    for start in (head, workers):
        assert "RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$HOME/ray-token" in start and "ray start" in start
    assert "--dashboard-host=127.0.0.1" in head
    with open(os.path.join(CLUSTER, "README.md")) as handle:
        readme = handle.read()
    assert "ray up -n" in readme and "IpRanges=[{CidrIp=$SSH_CIDR}]" in readme and "0.0.0.0/0" not in readme


def test_every_manifest_pod_is_covered_by_a_policy_beyond_the_default_deny():
    pol = {k: v for k, v in policies().items() if v["podSelector"]}
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in all_kube_docs()
            if d["kind"] in ("Deployment", "StatefulSet")]
    pods += [group["template"]["metadata"]["labels"] for _, spec in ray_clusters() for group in groups(spec)]
    for labels in pods:
        assert any(selects(s["podSelector"], labels) for s in pol.values()), labels
    assert {d["kind"] for d in all_kube_docs()} >= {"NetworkPolicy", "Ingress"}
    assert list(each(all_kube_docs(), "hostNetwork")) == []


def test_security_md_names_tests_that_exist():
    """Every test cluster/SECURITY.md cites (`file.py`, `file.py::name` or a bare `test_…` name) is
    a test file or function of tests/cluster/."""
    here = os.path.dirname(__file__)
    sources = {}
    for name in os.listdir(here):
        if name.endswith(".py"):
            with open(os.path.join(here, name)) as handle:
                sources[name] = handle.read()
    with open(os.path.join(CLUSTER, "SECURITY.md")) as handle:
        refs = re.findall(r"`(test_\w+(?:\.py)?(?:::\w+)?)`", handle.read())
    assert len(refs) >= 10
    for ref in refs:
        name, _, func = ref.partition("::")
        if not name.endswith(".py"):
            name, func = None, name
        assert name is None or name in sources, ref
        texts = [sources[name]] if name else sources.values()
        assert not func or any(f"def {func}(" in text for text in texts), ref

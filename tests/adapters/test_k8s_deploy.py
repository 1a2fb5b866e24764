"""The Kubernetes example (deploy/k8s): every manifest valid against the Kubernetes 1.30 schemas
(kubernetes-validate, offline), and the pieces fit: the bot's config loads and points at the
Triton Service, the HPA scales Triton, the bot stays one replica on its volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from bot.config import load_config
from tests.conftest import REPO

K8S = REPO / "deploy" / "k8s"
VERSION = "1.30"


def documents(name: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]
    assert all(isinstance(d, dict) for d in docs)
    return docs


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d
        for f in ("triton.yaml", "bot.yaml")
        for d in documents(f)
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


@pytest.mark.parametrize("manifest", ["triton.yaml", "bot.yaml"])
def test_every_manifest_is_valid_kubernetes(manifest: str) -> None:
    for doc in documents(manifest):
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_an_invalid_manifest_is_caught_by_the_validator() -> None:
    service = one("Service", "triton")
    broken = {**service, "spec": {**service["spec"], "ports": [{"port": "eight thousand"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_the_kserve_alternative_names_its_kind_and_the_v2_protocol() -> None:
    [service] = documents("kserve.yaml")  # a CRD: no schema ships with Kubernetes
    assert (service["apiVersion"], service["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    assert service["spec"]["predictor"]["model"]["protocolVersion"] == "v2"


def bot_config(tmp_path: Path) -> Any:
    text = one("ConfigMap", "wechat-vision-bot")["data"]["config.toml"]
    local = text.replace("/app/labels/", f"{(REPO / 'labels').as_posix()}/")
    path = tmp_path / "config.toml"
    path.write_text(local, encoding="utf-8")
    return load_config(path, env={})


def test_the_bots_config_loads_and_points_at_the_triton_service(tmp_path: Path) -> None:
    config = bot_config(tmp_path)
    url = urlsplit(config.serving.url)
    service = one("Service", "triton")
    assert config.serving.protocol == "v2"
    assert url.hostname == service["metadata"]["name"]
    assert url.port in [p["port"] for p in service["spec"]["ports"]]


def test_the_triton_service_and_autoscaler_reach_the_triton_pods() -> None:
    deployment = one("Deployment", "triton")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert one("Service", "triton")["spec"]["selector"].items() <= labels.items()
    target = one("HorizontalPodAutoscaler", "triton")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "triton")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_the_bot_is_one_replica_replaced_not_rolled_with_its_state_on_a_volume(
    tmp_path: Path,
) -> None:
    deployment = one("Deployment", "wechat-vision-bot")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
    assert one("PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    config = bot_config(tmp_path)
    assert Path(mounts["state"]) == config.chat.state_dir
    assert config.audit.path.parent == config.chat.state_dir
    assert container["args"] == ["--config", f"{mounts['config']}/config.toml", "run"]
    secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e["valueFrom"]}
    assert secrets == {config.serving.headers_env, config.serving.token_env}

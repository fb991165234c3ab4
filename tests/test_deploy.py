"""The deploy/ files state facts about the code: settings' names, ports, probe paths, commands, Slack scopes and
events. None of them can run here (no Docker engine, no cluster), so each fact is checked against the code."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from adapters.ops.server import ops_app
from adapters.slack.listeners import ACCESS_EVENTS, RENAMES
from adapters.slack.runner import EVENTS_PATH
from adapters.slack.translate import COMMANDS, EVENTS
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kubernetes() -> dict[str, dict]:
    return {doc["kind"]: doc for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")) for doc in _documents(path)}


def _env_names() -> set[str]:
    """Every environment variable the settings read."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"CONNECTIVE_{name.upper()}")
        if field.validation_alias is not None:
            names |= {c for c in field.validation_alias.choices if isinstance(c, str) and c.isupper()}
    return names


def _ops_paths() -> set[str]:
    return {route.resource.canonical for route in ops_app(None).router.routes()}  # type: ignore[arg-type]


def test_every_manifest_parses():
    for path in [*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]:
        assert _documents(path), path


def test_the_deployment_probes_ports_and_stop_match_the_app():
    """Liveness was /healthz: a database outage of two minutes restarted every replica, and `connective run` exits
    when the database is unreachable at start, so they sat in CrashLoopBackOff minutes after it came back."""
    k8s = _kubernetes()
    spec = k8s["Deployment"]["spec"]
    pod = spec["template"]["spec"]
    [main] = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    settings = Settings.model_fields
    config = k8s["ConfigMap"]["data"]
    assert ports["metrics"] == int(config["CONNECTIVE_METRICS_PORT"]) == settings["metrics_port"].default
    assert ports["slack-http"] == int(config["CONNECTIVE_HTTP_PORT"]) == settings["http_port"].default
    assert set(config) <= _env_names()

    probes = {kind: main[f"{kind}Probe"]["httpGet"] for kind in ("startup", "readiness", "liveness")}
    assert all(probe["port"] in ports and probe["path"] in _ops_paths() for probe in probes.values())
    assert probes["readiness"]["path"] == "/healthz"  # ready: the database answers and the platform is connected
    # /healthz waits up to Health.timeout for the database: a probe's timeout (1 s by default) must be longer.
    from bot.health import Health

    assert main["readinessProbe"].get("timeoutSeconds", 1) > Health.timeout
    assert probes["liveness"]["path"] == probes["startup"]["path"] == "/livez"

    # A rolling update keeps both replicas serving; a stop ends before Kubernetes kills the container.
    assert spec["replicas"] >= 2 and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pause = int(main["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pause + float(config["CONNECTIVE_SHUTDOWN_GRACE_SECONDS"])

    # The init containers check the settings and upgrade the schema, for the platform the main container runs.
    inits = {c["name"]: c for c in pod["initContainers"]}
    assert inits["config-check"]["args"][:2] == ["config", "check"] and inits["db-upgrade"]["args"] == ["db", "upgrade"]
    assert inits["config-check"]["args"][-1] == main["args"][-1]
    assert {c["image"] for c in [*inits.values(), main]} == {main["image"]}

    service = k8s["Service"]["spec"]["ports"]
    assert {p["targetPort"] for p in service} <= set(ports)
    # Slack HTTP mode: the Ingress sends the bot's one path to the Service's port for it.
    [rule] = k8s["Ingress"]["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["path"] == EVENTS_PATH and path["backend"]["service"]["name"] == k8s["Service"]["metadata"]["name"]
    assert {p["name"]: p["targetPort"] for p in service}[path["backend"]["service"]["port"]["name"]] == "slack-http"


def test_every_container_meets_the_restricted_pod_security_standard():
    """The init container had no securityContext: a namespace enforcing "restricted" refused the pod."""
    pod = _kubernetes()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"--uid {pod['securityContext']['runAsUser']} " in dockerfile
    for container in [*pod["initContainers"], *pod["containers"]]:
        context = container.get("securityContext", {})
        assert context.get("allowPrivilegeEscalation") is False, container["name"]
        assert context.get("capabilities", {}).get("drop") == ["ALL"], container["name"]


def test_every_container_runs_on_a_read_only_root_with_a_writable_tmp():
    """readOnlyRootFilesystem was false. The app writes only under /tmp (an import's unpacked zip, onnxruntime's
    cache through XDG_CACHE_HOME); the model's ONNX export is made in the image, where the settings look for it.
    Checked against a real `connective run`, `db upgrade`, `config check` and `import` with / mounted read-only."""
    pod = _kubernetes()["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["securityContext"].get("readOnlyRootFilesystem") is True, container["name"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], container["name"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cache = re.search(r"^ENV XDG_CACHE_HOME=(\S+)$", dockerfile, re.M)
    assert cache and cache.group(1).startswith("/tmp/")
    assert dockerfile.index("ENV XDG_CACHE_HOME") > dockerfile.index("USER connective")  # not root's, from the build
    model_cache = re.search(r"CONNECTIVE_MODEL_CACHE_DIR=(\S+)", dockerfile)
    assert model_cache and "cache_dir=s.model_cache_dir" in dockerfile and not model_cache.group(1).startswith("/tmp")


def test_the_secret_template_compose_and_env_example_name_only_settings():
    assert set(_kubernetes()["Secret"]["stringData"]) <= _env_names()
    example = {line.split("=", 1)[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert example <= _env_names() | {"CONNECTIVE_PLATFORM", "POSTGRES_PASSWORD"}  # the last two: compose's own
    [compose] = _documents(DEPLOY / "compose.yaml")
    bot = compose["services"]["connective"]
    assert set(bot["environment"]) <= _env_names()
    assert f"9100:{Settings.model_fields['metrics_port'].default}" in bot["ports"]
    assert "127.0.0.1:9100/healthz" in " ".join(bot["healthcheck"]["test"])


def test_the_docs_name_only_environment_variables_that_exist():
    docs = [ROOT / "README.md", *DEPLOY.rglob("*.md")]
    named = {name for doc in docs for name in re.findall(r"\bCONNECTIVE_[A-Z_]+\b", doc.read_text())}
    assert named - _env_names() <= {"CONNECTIVE_CONFIG", "CONNECTIVE_PLATFORM"}


def test_the_docker_image_and_its_build_context():
    """There was no .dockerignore: the build context carried .venv (about 2 GB), .git and deploy/.env's tokens."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in dockerfile
    assert project["scripts"]["connective"] == "bot.cli:main" and 'ENTRYPOINT ["connective"]' in dockerfile
    assert re.search(r"^USER connective$", dockerfile, re.M)
    assert not re.search(r"^(ENV|ARG)\b.*(TOKEN|SECRET|PASSWORD)", dockerfile, re.M)
    assert "http://127.0.0.1:9100/healthz" in dockerfile and "CONNECTIVE_METRICS_PORT=9100" in dockerfile
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M))
    assert copied == {"bot", "adapters", "matching", "migrations"}

    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "deploy/.env", ".env"} <= ignored
    assert not ignored & (copied | {"pyproject.toml", "README.md"})


def test_the_slack_manifest_registers_what_the_adapter_handles():
    [manifest] = _documents(DEPLOY / "slack" / "manifest.yml")
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == set(COMMANDS)
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    handled = {e for e in EVENTS if e != "message"} | {"app_home_opened"} | set(ACCESS_EVENTS) | set(RENAMES)
    assert handled <= events and {"message.channels", "message.im"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "im:write", "mpim:write", "users:read", "reactions:read",
            "channels:history", "channels:read", "app_mentions:read", "im:history"} <= scopes
    # HTTP mode: one request URL per slash command, the events and interactivity, each on the bot's one path.
    text = (DEPLOY / "slack" / "manifest.yml").read_text()
    urls = re.findall(r"# (?:url|request_url): https://\S+(/slack/events)", text)
    assert len(urls) == len(commands) + 2


def test_the_discord_invite_asks_for_the_permissions_its_table_lists():
    import discord

    text = (DEPLOY / "discord" / "README.md").read_text()
    rows = re.findall(r"^\| ([A-Z][A-Za-z ]+) \| .+\|$", text, re.M)
    names = [row.lower().replace(" ", "_").replace("view_channels", "view_channel") for row in rows]
    assert len(names) == 6
    wanted = discord.Permissions(**dict.fromkeys(names, True)).value
    assert f"Permissions integer **{wanted}**" in text and f"permissions={wanted}" in text


def test_the_disruption_budget_and_compose_keep_a_replica_and_the_grace_period():
    k8s = _kubernetes()
    labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    budget = k8s["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget["minAvailable"] < k8s["Deployment"]["spec"]["replicas"]
    [compose] = _documents(DEPLOY / "compose.yaml")
    grace = compose["services"]["connective"]["stop_grace_period"]
    assert int(grace.removesuffix("s")) > Settings.model_fields["shutdown_grace_seconds"].default


def test_the_metrics_the_docs_name_exist():
    from prometheus_client.parser import text_string_to_metric_families

    from bot import metrics

    served = {sample.name for family in text_string_to_metric_families(metrics.exposition().decode())
              for sample in family.samples}
    served |= {name for name in metrics.REGISTRY._names_to_collectors}  # noqa: SLF001  (labelled ones not yet seen)
    section = (DEPLOY / "README.md").read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\bconnective_[a-z_]+\b", section))
    assert len(named) >= 9 and named <= served, named - served

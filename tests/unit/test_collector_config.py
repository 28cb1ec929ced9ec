"""collector-config/ and docker-compose.yml, checked without a Collector or a Docker engine.

- Every component a Collector config uses exists, under that kind, in the pinned contrib
  release (collector-config/components-contrib-<version>.txt, from its release manifest).
- Every pipeline's receivers/processors/exporters are defined, and everything defined is used.
- docker-compose.yml: ``docker-compose config`` accepts it (Debian's docker-compose parses
  without an engine); services, ports, mounted files and the endpoints between the services
  agree with each other and with the Collector config.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "collector-config"
CONFIGS = sorted(CONFIG_DIR.glob("otel-collector*.yaml"))
KINDS = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "connectors": "connector",
    "extensions": "extension",
}
SIGNALS = ("traces", "metrics", "logs")


def pinned_components() -> tuple[str, set[tuple[str, str]]]:
    (path,) = CONFIG_DIR.glob("components-contrib-*.txt")
    version, components = "", set()
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0] == "version":
            version = fields[1]
        else:
            components.add((fields[0], fields[1]))
    assert path.name == f"components-contrib-{version}.txt"
    return version, components


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def test_the_component_list_is_the_whole_contrib_release():
    version, components = pinned_components()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    kinds = {kind for kind, _ in components}
    assert kinds == set(KINDS.values())
    assert len(components) > 200  # the full distribution, not a hand-picked subset


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_component_exists_and_every_pipeline_is_defined(path):
    _, pinned = pinned_components()
    config = yaml.safe_load(path.read_text())
    defined = {section: set(config.get(section) or {}) for section in KINDS}
    for section, ids in defined.items():
        for component_id in ids:
            assert (KINDS[section], component_type(component_id)) in pinned, (
                f"{path.name}: {section[:-1]} {component_id!r} is not in the pinned release"
            )
    service = config["service"]
    used: dict[str, set[str]] = {section: set() for section in KINDS}
    for extension in service.get("extensions") or []:
        assert extension in defined["extensions"], extension
        used["extensions"].add(extension)
    pipelines = service["pipelines"]
    assert pipelines
    for name, pipeline in pipelines.items():
        assert component_type(name) in SIGNALS, name
        assert pipeline.get("receivers") and pipeline.get("exporters"), name
        for section in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(section) or []:
                known = defined[section] | defined["connectors"]
                assert component_id in known, f"{path.name}: {name} uses undefined {component_id}"
                used[section].add(component_id)
        processors = pipeline.get("processors") or []
        if processors:
            # The memory limiter must see data first; batching comes last.
            assert processors[0] == "memory_limiter", name
            assert "batch" not in processors or processors[-1] == "batch", name
    for section in KINDS:
        assert defined[section] <= used[section], f"{path.name}: unused {section}"


def test_load_balancing_is_keyed_by_trace_id():
    config = yaml.safe_load((CONFIG_DIR / "otel-collector-loadbalancing.yaml").read_text())
    exporter = config["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert "otlp" in exporter["protocol"]


def compose() -> dict:
    """The compose file as docker-compose resolves it, or as written when it is absent."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is not installed (.ci/debian-packages.txt)")
        return yaml.safe_load((REPO / "docker-compose.yml").read_text())
    out = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COMPOSE_PROJECT_NAME": "otelperf"},
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def published(service: dict) -> set[int]:
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.add(int(port["target"]))
        else:
            ports.add(int(str(port).split(":")[-1].split("/")[0]))
    return ports


def bind_mounts(service: dict) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((Path(volume["source"]), volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                mounts.append(((REPO / source).resolve(), target))
    return mounts


def command_text(service: dict) -> str:
    command = service.get("command") or []
    return command if isinstance(command, str) else " ".join(command)


def test_docker_compose_services_ports_and_mounts_are_consistent():
    services = compose()["services"]
    assert set(services) == {
        "app",
        "otel-collector",
        "otel-perf",
        "jaeger",
        "tempo",
        "prometheus",
        "grafana",
    }
    for name, service in services.items():
        for source, _ in bind_mounts(service):
            assert source.exists(), f"{name} mounts a missing {source}"
    # The Collector runs contrib at the pinned version, with our config.
    collector = services["otel-collector"]
    version, _ = pinned_components()
    assert collector["image"] == f"otel/opentelemetry-collector-contrib:{version}"
    mounts = dict((target, source) for source, target in bind_mounts(collector))
    config_path = re.search(r"--config=(\S+)", command_text(collector)).group(1)
    assert mounts[config_path] == CONFIG_DIR / "otel-collector.yaml"
    config = yaml.safe_load((CONFIG_DIR / "otel-collector.yaml").read_text())
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert int(http.rsplit(":", 1)[1]) == 4318 and 4318 in published(collector)
    # The app exports to the Collector's OTLP/HTTP receiver, with no local store.
    app = services["app"]["environment"]
    endpoint = urlsplit(app["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert (endpoint.hostname, endpoint.port) == ("otel-collector", 4318)
    assert app["OTEL_PERF_STORE"] == "none" and app["OTEL_TRACES_EXPORTER"] == "otlp"
    assert "gunicorn -w 4" in command_text(services["app"])
    # The Collector's otel-perf exporter reaches otel-perf serve's receiver port.
    serve = command_text(services["otel-perf"])
    otlp_port = int(re.search(r"--otlp-port (\d+)", serve).group(1))
    report_port = int(re.search(r"--port (\d+)", serve).group(1))
    target = urlsplit(collector["environment"]["OTEL_PERF_ENDPOINT"])
    assert (target.hostname, target.port) == ("otel-perf", otlp_port)
    assert report_port in published(services["otel-perf"])
    for exporter, service in (("otlp/jaeger", "JAEGER_ENDPOINT"), ("otlp/tempo", "TEMPO_ENDPOINT")):
        host = collector["environment"][service].split(":")[0]
        assert host in services and exporter in config["exporters"]
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    # Grafana's provisioned datasources point at services and ports that exist.
    grafana_mounts = dict((t, s) for s, t in bind_mounts(services["grafana"]))
    datasources = yaml.safe_load(
        grafana_mounts["/etc/grafana/provisioning/datasources/datasources.yaml"].read_text()
    )["datasources"]
    assert {d["type"] for d in datasources} == {"tempo", "prometheus"}
    for datasource in datasources:
        url = urlsplit(datasource["url"])
        assert url.hostname in services and url.port in published(services[url.hostname])
    # Prometheus scrapes otel-perf serve's report port (/metrics).
    prometheus_mounts = dict((t, s) for s, t in bind_mounts(services["prometheus"]))
    scrape = yaml.safe_load(prometheus_mounts["/etc/prometheus/prometheus.yml"].read_text())
    (target,) = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert target == f"otel-perf:{report_port}"
    tempo_mounts = dict((t, s) for s, t in bind_mounts(services["tempo"]))
    tempo = yaml.safe_load(tempo_mounts["/etc/tempo.yaml"].read_text())
    assert tempo["server"]["http_listen_port"] == 3200
    tempo_grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert tempo_grpc.endswith(collector["environment"]["TEMPO_ENDPOINT"].split(":")[1])

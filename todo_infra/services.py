"""The app's services, declared once: `services:` in chart/values.yaml (name, port, metrics, Dapr, HPA, resources).

Everything that runs or checks a service reads that map: the chart's shared templates (chart/templates/_service.tpl),
the network policies, the Dapr configuration, the dashboards, capacity and cost, the app stacks' `image_digests`,
and the tests. A few files must still name each service, because their readers cannot read values.yaml or because
the chart's layout asks for a file per service:

- chart/templates/<service>/{deployment,service,pdb}.yaml, chart/templates/hpa/<service>-hpa.yaml and
  chart/templates/monitoring/servicemonitor-<service>.yaml: one-line includes of the shared templates;
- chart/values.schema.json: the services Helm accepts (`services`, `global.imageDigests`, `ingress.routes[].service`),
  so a misspelt service in an environment's values file is refused instead of becoming a new, half-defined service;
- chart/values-local.yaml: the local stand-in's health paths and PODINFO_PORT (docs/architecture.md, "Local target");
- .github/images.json: the images build.yml builds, read by a standard-library script before any install.

`python3 dev.py add-service NAME --port N` writes all of them (docs/adding-a-service.md); `restatement_problems`
checks them against values.yaml, one line per problem naming the file to edit (the suite and preflight run it).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from todo_infra import yamlload
from todo_infra.contracts import APP_RELEASE, BASE_VALUES

ROOT = Path(__file__).resolve().parent.parent
#: The services the project's specification requires; values.yaml may add more, never drop one of these.
REQUIRED_SERVICES = ("frontend", "backend", "mcp", "notification", "sse-gateway")
#: A service name: a DNS-1035 label (Service names, Dapr app ids, label values), short enough that
#: `<release>-<service>` stays within 63 characters.
NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 63 - len(APP_RELEASE) - 1
#: The lowest port a service may listen on: the pods run as non-root with every capability dropped.
MIN_PORT = 1024
#: Ports daprd listens on inside every Dapr pod (HTTP API, health, gRPC API); the chart's own two come from values.
DAPR_FIXED_PORTS = {3500: "Dapr HTTP API", 3501: "Dapr health", 50001: "Dapr gRPC API"}
#: Components of the chart that are not services: their names are taken.
OTHER_COMPONENTS = ("redis",)

LOCAL_VALUES = "values-local.yaml"
SCHEMA = "values.schema.json"
IMAGES = ".github/images.json"
ADD_COMMAND = "python3 dev.py add-service NAME --port N"


@dataclass(frozen=True)
class TemplateFile:
    """One per-service template file: where it lives and which shared template it includes."""

    pattern: str
    include: str

    def path(self, name: str) -> str:
        return "chart/templates/" + self.pattern.format(name=name)

    def text(self, name: str) -> str:
        return f'{{{{- include "{self.include}" (dict "root" $ "name" "{name}") }}}}\n'


TEMPLATE_FILES = (
    TemplateFile("{name}/deployment.yaml", "todo.deployment"),
    TemplateFile("{name}/service.yaml", "todo.svc"),
    TemplateFile("{name}/pdb.yaml", "todo.pdb"),
    TemplateFile("hpa/{name}-hpa.yaml", "todo.hpa"),
    TemplateFile("monitoring/servicemonitor-{name}.yaml", "todo.serviceMonitor"),
)


class ServiceError(ValueError):
    """Bad input to add-service, or a file that is not what it should be; the message is one line."""


def _yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yamlload.load(path.read_text()) if path.is_file() else {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ServiceError(f"{path.name}{where}: not valid YAML") from None
    return loaded if isinstance(loaded, dict) else {}


def declared(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """`services:` of chart/values.yaml, in file order: the one list of services."""
    services = _yaml(root / "chart" / BASE_VALUES).get("services")
    return dict(services) if isinstance(services, Mapping) else {}


def names(root: Path = ROOT) -> tuple[str, ...]:
    return tuple(declared(root))


# --- the restated files, checked against values.yaml ---------------------------------------------------------------
def _schema_lists(schema: Mapping[str, Any]) -> dict[str, list[str]]:
    """The places of values.schema.json that list the services, by a name a person finds in the file."""
    props = schema.get("properties", {})
    services = props.get("services", {})
    digests = props.get("global", {}).get("properties", {}).get("imageDigests", {})
    routes = props.get("ingress", {}).get("properties", {}).get("routes", {})
    route_service = routes.get("items", {}).get("properties", {}).get("service", {})
    return {
        "properties.services.properties": list(services.get("properties", {})),
        "properties.services.required": list(services.get("required", [])),
        "properties.global.properties.imageDigests.properties": list(digests.get("properties", {})),
        "properties.ingress.properties.routes.items.properties.service.enum": list(route_service.get("enum", [])),
    }


def schema_services(root: Path = ROOT) -> tuple[str, ...]:
    """The services chart/values.schema.json accepts under `services` (what a refusal may suggest)."""
    schema = json.loads((root / "chart" / SCHEMA).read_text())
    return tuple(_schema_lists(schema)["properties.services.properties"])


def _per_service_template_names(root: Path) -> set[str]:
    """Every service name some per-service template file is written for."""
    templates = root / "chart" / "templates"
    found = {path.parent.name for path in templates.glob("*/deployment.yaml")}
    found |= {path.name.removesuffix("-hpa.yaml") for path in templates.glob("hpa/*-hpa.yaml")}
    found |= {
        path.name.removeprefix("servicemonitor-")[: -len(".yaml")]
        for path in templates.glob("monitoring/servicemonitor-*.yaml")
    }
    return found


def _template_problems(root: Path, expected: list[str]) -> list[str]:
    problems = []
    for name in expected:
        for template in TEMPLATE_FILES:
            path = root / template.path(name)
            if not path.is_file():
                problems.append(f"{template.path(name)}: missing for service {name!r} ({ADD_COMMAND} writes it)")
            elif path.read_text() != template.text(name):
                problems.append(f"{template.path(name)}: must be exactly {template.text(name).strip()}")
    problems += [
        f"chart/templates: per-service template files for {name!r}, which chart/{BASE_VALUES} does not declare: "
        f"declare it under services: or delete them"
        for name in sorted(_per_service_template_names(root) - set(expected) - set(OTHER_COMPONENTS))
    ]
    return problems


def _schema_problems(root: Path, expected: list[str]) -> list[str]:
    schema = json.loads((root / "chart" / SCHEMA).read_text())
    return [
        f"chart/{SCHEMA}: {place} lists {listed}, chart/{BASE_VALUES} services: declares {expected}: make them the same"
        for place, listed in _schema_lists(schema).items()
        if sorted(listed) != sorted(expected)
    ]


def _local_problems(root: Path, services: Mapping[str, Any]) -> list[str]:
    local = _yaml(root / "chart" / LOCAL_VALUES).get("services") or {}
    problems = []
    for name, service in services.items():
        port = ((local.get(name) or {}).get("env") or {}).get("PODINFO_PORT")
        if port != str(service.get("port")):
            problems.append(
                f"chart/{LOCAL_VALUES}: services.{name}.env.PODINFO_PORT is {port!r}, must be "
                f"{str(service.get('port'))!r} (the service's port in chart/{BASE_VALUES})"
            )
    problems += [
        f"chart/{LOCAL_VALUES}: services.{name}: not a service of chart/{BASE_VALUES}: remove it"
        for name in sorted(set(local) - set(services))
    ]
    return problems


def _image_problems(root: Path, expected: list[str]) -> list[str]:
    images = json.loads((root / IMAGES).read_text())
    imaged = [entry.get("service") for entry in images.get("services", [])]
    problems = []
    if imaged != expected:
        problems.append(f"{IMAGES}: services lists {imaged}, chart/{BASE_VALUES} services: declares {expected}")
    problems += [
        f"{IMAGES}: {entry.get('service')}: context must be services/{entry.get('service')}"
        for entry in images.get("services", [])
        if entry.get("context") != f"services/{entry.get('service')}"
    ]
    return problems


def restatement_problems(root: Path = ROOT) -> list[str]:
    """One line per file that does not name exactly the services of chart/values.yaml: `<file>: <what>: <fix>`."""
    services = declared(root)
    if not services:
        return [f"chart/{BASE_VALUES}: services: no service declared"]
    expected = list(services)
    return [
        *(
            f"chart/{BASE_VALUES}: services: {name!r} is required by the specification and missing"
            for name in REQUIRED_SERVICES
            if name not in services
        ),
        *_template_problems(root, expected),
        *_schema_problems(root, expected),
        *_local_problems(root, services),
        *_image_problems(root, expected),
    ]


# --- the scaffold: python3 dev.py add-service ----------------------------------------------------------------------
@dataclass(frozen=True)
class NewService:
    name: str
    port: int
    dapr: bool = False
    metrics: bool = False


USAGE = "usage: python3 dev.py add-service NAME --port N [--dapr] [--metrics]"


def parse(args: Sequence[str]) -> NewService:
    """The command line, or a one-line refusal."""
    name, port, dapr, metrics = None, None, False, False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--port" and rest:
            port = rest.pop(0)
        elif arg.startswith("--port="):
            port = arg.removeprefix("--port=")
        elif arg == "--dapr":
            dapr = True
        elif arg == "--metrics":
            metrics = True
        elif not arg.startswith("-") and name is None:
            name = arg
        else:
            raise ServiceError(f"unexpected argument {arg!r}; {USAGE}")
    if name is None or port is None:
        raise ServiceError(USAGE)
    if not re.fullmatch(r"[0-9]+", port):
        raise ServiceError(f"--port {port!r}: not a number; allowed: an integer {MIN_PORT}-65535")
    return NewService(name=name, port=int(port), dapr=dapr, metrics=metrics)


def _name_refusal(name: str, root: Path) -> str | None:
    services = declared(root)
    if not NAME.fullmatch(name) or len(name) > MAX_NAME:
        return (
            f"service name {name!r}: not allowed; allowed: a DNS-1035 label of at most {MAX_NAME} characters "
            f"(lower-case letters, digits and '-', starting with a letter, not ending with '-')"
        )
    if name in services:
        return f"service {name!r} already exists in chart/{BASE_VALUES} services:; edit its entry there instead"
    folders = {path.name for path in (root / "chart" / "templates").iterdir() if path.is_dir()}
    if name in folders | _per_service_template_names(root):
        return f"service name {name!r}: taken by another part of the chart (chart/templates/{name}); pick another"
    if name.startswith(OTHER_COMPONENTS):
        return f"service name {name!r}: names starting with {' or '.join(OTHER_COMPONENTS)} are the chart's own"
    return None


def _port_refusal(port: int, root: Path) -> str | None:
    if not MIN_PORT <= port <= 65535:
        return f"--port {port}: out of range; allowed: {MIN_PORT}-65535 (the pods run as non-root)"
    dapr = _yaml(root / "chart" / BASE_VALUES).get("dapr") or {}
    reserved: dict[Any, str] = {
        **{service.get("port"): f"service {name!r}" for name, service in declared(root).items()},
        **DAPR_FIXED_PORTS,
        dapr.get("metricsPort"): "dapr.metricsPort",
        dapr.get("internalGrpcPort"): "dapr.internalGrpcPort",
    }
    if port in reserved:
        return f"--port {port}: taken by {reserved[port]}; pick a free port"
    return None


def refusal(new: NewService, root: Path = ROOT) -> str | None:
    """Why `new` cannot be added to the repository at `root`, in one line; None when it can."""
    return _name_refusal(new.name, root) or _port_refusal(new.port, root)


def values_entry(new: NewService) -> str:
    """The new service's entry under `services:` in values.yaml: safe, small defaults a person then adjusts."""
    return f"""  {new.name}:
    enabled: true
    port: {new.port}
    replicas: 1
    autoscaling:
      enabled: false
      minReplicas: 1
      maxReplicas: 2
      targetCPUUtilizationPercentage: 80
    resources:
      requests: {{cpu: 20m, memory: 64Mi}}
      limits: {{cpu: 200m, memory: 128Mi}}
    health:
      readinessPath: /health
      livenessPath: /health
    readOnlyRootFilesystem: true
    writablePaths: [/tmp]
    secretKeys: []
    env:
      LOG_LEVEL: info
    dapr:
      enabled: {str(new.dapr).lower()}
      components: []
      publishes: []
      invokers: []
    subscriptions: []
    metrics:
      enabled: {str(new.metrics).lower()}
"""


def local_entry(new: NewService) -> str:
    return f"""  {new.name}:
    health: {{readinessPath: /readyz, livenessPath: /healthz}}
    env: {{PODINFO_PORT: "{new.port}"}}
"""


def _append_to_services(text: str, entry: str, file: str) -> str:
    """`entry` inserted as the last item of the top-level `services:` block of a values file, comments kept."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "services:")
    except StopIteration:
        raise ServiceError(f"chart/{file}: no top-level 'services:' block to add to") from None
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i][0].isspace()),
        len(lines),
    )
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    if lines[end - 1] and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    return "".join([*lines[:end], entry, *lines[end:]])


def schema_with(schema: dict[str, Any], name: str) -> dict[str, Any]:
    props = schema["properties"]
    services = props["services"]
    services["required"].append(name)
    services["properties"][name] = {"$ref": "#/definitions/service"}
    digests = props["global"]["properties"]["imageDigests"]["properties"]
    digests[name] = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
    props["ingress"]["properties"]["routes"]["items"]["properties"]["service"]["enum"].append(name)
    return schema


def images_text(images: Mapping[str, Any]) -> str:
    """.github/images.json in its committed layout: one line per service."""
    entries = ",\n".join(f"    {json.dumps(entry)}" for entry in images["services"])
    head = {key: value for key, value in images.items() if key != "services"}
    fields = "".join(f"  {json.dumps(key)}: {json.dumps(value)},\n" for key, value in head.items())
    return f'{{\n{fields}  "services": [\n{entries}\n  ]\n}}\n'


def add(new: NewService, root: Path = ROOT) -> list[str]:
    """Write every file that names the services; returns the files written (relative to `root`)."""
    reason = refusal(new, root)
    if reason:
        raise ServiceError(reason)
    problems = restatement_problems(root)
    if problems:
        raise ServiceError(f"fix the existing services first: {problems[0]}")
    chart = root / "chart"
    writes: dict[str, str] = {}
    for file, entry in ((BASE_VALUES, values_entry(new)), (LOCAL_VALUES, local_entry(new))):
        writes[f"chart/{file}"] = _append_to_services((chart / file).read_text(), entry, file)
    schema = schema_with(json.loads((chart / SCHEMA).read_text()), new.name)
    writes[f"chart/{SCHEMA}"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    images = json.loads((root / IMAGES).read_text())
    images["services"].append({"service": new.name, "context": f"services/{new.name}"})
    writes[IMAGES] = images_text(images)
    for template in TEMPLATE_FILES:
        writes[template.path(new.name)] = template.text(new.name)
    for relative, text in writes.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    problems = restatement_problems(root)
    if problems or new.name not in declared(root):
        raise ServiceError(f"wrote {len(writes)} files but they do not agree: {(problems or ['not declared'])[0]}")
    return list(writes)


def main(argv: Sequence[str]) -> int:
    try:
        new = parse(argv)
        written = add(new)
    except ServiceError as error:
        print(f"add-service: {error}", file=sys.stderr)
        return 2
    print(f"add-service: {new.name} (port {new.port}) written to {len(written)} files:")
    for relative in written:
        print(f"  {relative}")
    print(
        f"next: adjust services.{new.name} in chart/{BASE_VALUES} (resources, health paths, secretKeys, dapr, "
        "metrics), then run python3 dev.py synth, python3 dev.py preflight and python3 dev.py test "
        "(docs/adding-a-service.md)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The one typed configuration object every stack receives.

Defaults are embedded in `cdktf.json` (`context`); CI overrides a few of them with `TODO_*` environment
variables (see docs/configuration.md). Everything is validated here, before any construct is created,
so bad input fails as one line and nothing is written to `cdktf.out/`.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from todo_infra.contracts import CLUSTER_STACK, PLATFORM_STACK, app_stack_id, stack_environment, values_file

if TYPE_CHECKING:
    from todo_infra.local_target import LocalTarget

# --- grammars -----------------------------------------------------------------------------------

#: Image tag grammar (docs/architecture.md, "Images"): sha-<7 hex>, main-latest, staging-latest, v<semver>.
#: RE2-compatible, so the same pattern validates the Terraform variable at plan time. It holds no backslash on
#: purpose: a literal dot is `[.]`, because cdktf copies the pattern verbatim into a Terraform template string,
#: where `\.` is an invalid escape and Terraform rejects the whole validation (tests/terraform proves it).
IMAGE_TAG_PATTERN = (
    r"^(sha-[0-9a-f]{7}|main-latest|staging-latest|"
    r"v(0|[1-9][0-9]*)[.](0|[1-9][0-9]*)[.](0|[1-9][0-9]*)(-[0-9A-Za-z-]+([.][0-9A-Za-z-]+)*)?)$"
)
#: No semver build metadata (`+...`): `+` is not allowed in an image tag.
IMAGE_TAG_GRAMMAR = "sha-<7 hex>, main-latest, staging-latest or v<semver>"

_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NAME_DOTTED = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
#: The longest bucket name `_BUCKET` accepts (S3's naming rule, which Spaces' S3 API follows): derived names too.
BUCKET_NAME_MAX = 63
_HTTPS_URL = re.compile(r"^https://[a-z0-9.-]+(:[0-9]+)?/?$")
_MINOR_PREFIX = re.compile(r"^1\.[0-9]{2}\.$")

#: DigitalOcean datacenter regions that offer DOKS.
DOKS_REGIONS = ("ams3", "atl1", "blr1", "fra1", "lon1", "nyc1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1")
BACKEND_MODES = ("s3", "local")
ENVIRONMENTS = ("staging", "production")
#: The log shippers the platform can run (todo_infra/addons.py LOG_SHIPPERS), the default first. Promtail reached end of
#: life on 2026-03-02 and stays selectable for a cluster that must keep it a while (docs/runbooks/monitoring.md).
LOG_SHIPPER_CHOICES = ("alloy", "promtail")
#: Where production's critical and warning alerts go: "slack" (the webhook is then required at plan time: a production
#: deploy with an empty one is refused) or "none", which deploys production with no alert receiver, on purpose.
ALERTING_CHOICES = ("slack", "none")
WEEKDAYS = ("any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: Names the platform creates and the chart refers to (docs/architecture.md, "Platform add-ons").
CLUSTER_ISSUER = "letsencrypt-prod"
#: The public edge (docs/architecture.md, "Edge"): Envoy Gateway serving the Gateway API (the default), or the retired
#: ingress-nginx, kept selectable for those who must. The one setting `edge` picks it; each has its class name: the
#: GatewayClass or IngressClass the platform creates and the app's routes name.
EDGE_ENVOY_GATEWAY = "envoy-gateway"
EDGE_INGRESS_NGINX = "ingress-nginx"
EDGES = (EDGE_ENVOY_GATEWAY, EDGE_INGRESS_NGINX)
EDGE_CLASSES = {EDGE_ENVOY_GATEWAY: "envoy", EDGE_INGRESS_NGINX: "nginx"}

#: Environment variables that override `cdktf.json` context, for CI. Key: context field.
ENV_OVERRIDES: Mapping[str, str] = {
    "TODO_DOMAIN": "domain",
    "TODO_REGION": "region",
    "TODO_GHCR_OWNER": "ghcr_owner",
    "TODO_OPERATOR_EMAIL": "operator_email",
    "TODO_DNS_ON_DIGITALOCEAN": "dns_on_digitalocean",
    "TODO_STATE_BACKEND": "state_backend",
    "TODO_STATE_BUCKET": "state_bucket",
    "TODO_STATE_ENDPOINT": "state_endpoint",
    "TODO_BACKUP_BUCKET": "backup_bucket",
    "TODO_BACKUP_ENDPOINT": "backup_endpoint",
    "TODO_NODE_SIZE": "node_size",
    "TODO_NODE_MIN": "node_min",
    "TODO_NODE_MAX": "node_max",
    "TODO_HA_CONTROL_PLANE": "ha_control_plane",
    "TODO_ENVIRONMENTS": "environments",
    "TODO_EDGE": "edge",
    # The local target (todo_infra/local_target.py).
    "TODO_TARGET": "target",
    "TODO_KUBE_CONTEXT": "kube_context",
    "TODO_KUBECONFIG": "kubeconfig",
}


#: Every key cdktf.json's `context` (and TODO_CONTEXT_JSON) may hold.
CONTEXT_KEYS = (
    "project",
    "domain",
    "region",
    "ghcr_owner",
    "operator_email",
    "dns_on_digitalocean",
    "state_backend",
    "state_bucket",
    "state_endpoint",
    "backup_bucket",
    "backup_endpoint",
    "cluster_name",
    "kubernetes_minor_prefix",
    "vpc_ip_range",
    "node_size",
    "node_min",
    "node_max",
    "ha_control_plane",
    "control_plane_allowed_addresses",
    "maintenance_day",
    "maintenance_start_time",
    "environments",
    "edge",
    # The local target (todo_infra/local_target.py).
    "target",
    "kube_context",
    "kubeconfig",
    "log_shipper",
    "alerting",
)
ENVIRONMENT_KEYS = ("host_prefix", "default_image_tag", "token_generation")
#: A JSON object overlaid on cdktf.json's context. (CDKTF_CONTEXT_JSON belongs to the cdktf CLI, which overwrites it.)
CONTEXT_OVERRIDE_ENV = "TODO_CONTEXT_JSON"
#: "true" in the workflows: a deploy or plan must not fall back to the example defaults of cdktf.json.
REQUIRE_ENV = "TODO_REQUIRE_CONFIGURATION"
#: What a deploy must set explicitly: the GitHub repository variables.
DEPLOY_REQUIRED = (
    "TODO_DOMAIN",
    "TODO_REGION",
    "TODO_GHCR_OWNER",
    "TODO_OPERATOR_EMAIL",
    "TODO_STATE_BACKEND",
    "TODO_STATE_BUCKET",
    "TODO_STATE_ENDPOINT",
    "TODO_BACKUP_BUCKET",
    "TODO_BACKUP_ENDPOINT",
)
#: A shell deploy's record: the URL of its break-glass issue (todo_infra/deploy_inputs.py reads it).
BREAK_GLASS_ENV = "TODO_BREAK_GLASS"
#: TODO_* variables that are not settings themselves.
CONTROL_ENV = (CONTEXT_OVERRIDE_ENV, REQUIRE_ENV, BREAK_GLASS_ENV)


class ConfigError(ValueError):
    """Bad input: names the field, the value and what is allowed, in one line."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"invalid {field}={value!r}: expected {allowed}")

    @classmethod
    def saying(cls, message: str) -> ConfigError:
        """A refusal whose one line is not about a single field's value."""
        error = cls.__new__(cls)
        ValueError.__init__(error, message)
        return error

    @classmethod
    def unknown(cls, name: str, known: Sequence[str], where: str) -> ConfigError:
        """An unknown key or variable, with the closest known name."""
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return cls.saying(f"unknown {where} {name!r}: {hint}known: {', '.join(known)}")


# --- the typed object ---------------------------------------------------------------------------


def environment_bucket(base: str, environment: str) -> str:
    """The bucket of one environment, derived from a configured base name: `<base>-<environment>`.

    Spaces keys are limited per bucket, not per prefix, so whatever one environment's credentials may touch lives in
    buckets of its own (docs/architecture.md, "State"): the state of `app-<environment>` and its Redis backups."""
    return f"{base}-{environment}"


@dataclass(frozen=True, kw_only=True)
class StateSettings:
    """Where Terraform state lives: S3 API on DigitalOcean Spaces, or local files for offline work.

    `bucket` is the configured base name: it holds the state of the shared stacks (cluster, platform); each app stack
    keeps its state in its environment's bucket (`bucket_for`). Same key layout everywhere."""

    backend: str
    bucket: str
    endpoint: str
    key_prefix: str
    #: Local state files are <local_prefix>.<stack>.tfstate (the local target has its own: todo_infra/local_target.py).
    local_prefix: str = "terraform"

    def key(self, stack_id: str) -> str:
        return f"{self.key_prefix}/{stack_id}.tfstate"

    def bucket_for(self, stack_id: str) -> str:
        """The bucket that holds the stack's state: the shared one, or `<bucket>-<environment>` for an app stack."""
        environment = stack_environment(stack_id)
        return self.bucket if environment is None else environment_bucket(self.bucket, environment)


@dataclass(frozen=True, kw_only=True)
class BackupSettings:
    """Where the app's Redis backups are copied off the cluster: a Spaces bucket per environment, ideally in another
    region. `bucket` is the configured base name; environment `<env>` copies to `bucket_for(<env>)`."""

    bucket: str
    endpoint: str

    def bucket_for(self, environment: str) -> str:
        return environment_bucket(self.bucket, environment)


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    name: str
    region: str
    kubernetes_minor_prefix: str
    vpc_ip_range: str
    node_size: str
    node_min: int
    node_max: int
    ha_control_plane: bool
    #: The DOKS control-plane firewall's allowed sources (CIDRs); empty: the firewall is off (docs/architecture.md,
    #: "Environment isolation").
    control_plane_allowed_addresses: tuple[str, ...] = ()
    maintenance_day: str
    maintenance_start_time: str


@dataclass(frozen=True, kw_only=True)
class Environment:
    """One deployment target of the app; the only place (with values-<env>.yaml) environments differ."""

    name: str
    host_prefix: str
    domain: str
    #: None: no default, every plan/deploy must name the tag (production).
    default_image_tag: str | None
    #: Raised to rotate the environment's cluster tokens (todo_infra/access.py).
    token_generation: int = 1
    #: Values files of the chart layered over values-<env>.yaml (the local target's: todo_infra/local_target.py).
    overlays: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        return f"{self.host_prefix}.{self.domain}"

    @property
    def namespace(self) -> str:
        return self.name

    @property
    def stack_id(self) -> str:
        return app_stack_id(self.name)

    @property
    def values_file(self) -> str:
        return values_file(self.name)


@dataclass(frozen=True, kw_only=True)
class Settings:
    project: str
    domain: str
    ghcr_owner: str
    operator_email: str
    dns_on_digitalocean: bool
    state: StateSettings
    backup: BackupSettings
    cluster: ClusterSettings
    environments: tuple[Environment, ...]
    edge: str = EDGE_ENVOY_GATEWAY
    cluster_issuer: str = CLUSTER_ISSUER
    #: The local target's kubeconfig and context; None on DOKS (todo_infra/local_target.py).
    local: LocalTarget | None = None

    @property
    def ingress_class(self) -> str:
        """The edge's class: the GatewayClass (envoy-gateway) or IngressClass (ingress-nginx) the app's routes name."""
        return EDGE_CLASSES[self.edge]

    @property
    def gateway_api(self) -> bool:
        """The app's routes are Gateway API HTTPRoutes (not Ingress objects)."""
        return self.edge == EDGE_ENVOY_GATEWAY

    log_shipper: str = LOG_SHIPPER_CHOICES[0]
    alerting: str = ALERTING_CHOICES[0]

    @property
    def stack_ids(self) -> tuple[str, ...]:
        """Every stack of this configuration, in deploy order (main.py builds exactly these; no cluster stack on the
        local target)."""
        shared = (PLATFORM_STACK,) if self.local is not None else (CLUSTER_STACK, PLATFORM_STACK)
        return (*shared, *(env.stack_id for env in self.environments))

    @property
    def requires_alert_receiver(self) -> bool:
        """A deploy that includes production must name a receiver unless alerting is explicitly "none"."""
        return self.alerting != "none" and any(env.name == "production" for env in self.environments)

    @property
    def primary_host(self) -> str:
        """Production's host when production is deployed, else the first environment's."""
        by_name = {env.name: env for env in self.environments}
        return by_name.get("production", self.environments[0]).host


# --- parsing ------------------------------------------------------------------------------------


def _text(raw: Mapping[str, Any], field: str, pattern: re.Pattern[str], allowed: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(field, value, allowed)
    return value


def _choice(raw: Mapping[str, Any], field: str, choices: tuple[str, ...]) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(field, value, "one of " + ", ".join(choices))
    return value


def _int(raw: Mapping[str, Any], field: str, low: int, high: int) -> int:
    """A whole number: a JSON integer, or digits from an environment variable (never 3.7, never true)."""
    value = raw.get(field)
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ConfigError(field, value, f"an integer from {low} to {high}")
    if not low <= number <= high:
        raise ConfigError(field, value, f"an integer from {low} to {high}")
    return number


#: The only spellings of a boolean, wherever one is read (cdktf.json, TODO_CONTEXT_JSON, TODO_* variables,
#: TODO_REQUIRE_CONFIGURATION, GITHUB_ACTIONS): a JSON boolean or the words, in any case. `yes`, `1`, `on` are refused,
#: never read as false.
BOOLEAN_WORDS = ("true", "false")


def parse_bool(field: str, value: object) -> bool:
    """The one boolean parser: JSON true/false or the text true/false (any case); anything else is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in BOOLEAN_WORDS:
        return value.lower() == "true"
    raise ConfigError(field, value, "true or false")


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """A boolean environment variable: unset is false; set, it is parse_bool's."""
    return name in environ and parse_bool(name, environ[name])


def _bool(raw: Mapping[str, Any], field: str) -> bool:
    return parse_bool(field, raw.get(field))


def _cidrs(raw: Mapping[str, Any], field: str) -> tuple[str, ...]:
    """A list of distinct public IPv4 networks in CIDR form (host bits zero), such as ["203.0.113.0/24"]: what the DOKS
    API's `control_plane_firewall.allowed_addresses` takes ("public addresses (IPv4 or CIDR)",
    https://docs.digitalocean.com/reference/api/digitalocean/#tag/Kubernetes)."""
    value = raw.get(field, [])
    allowed = 'a list of IPv4 CIDR networks such as ["203.0.113.0/24"] (empty: no control-plane firewall)'
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(field, value, allowed)
    for item in value:
        try:
            network = ipaddress.IPv4Network(item, strict=True)
        except ValueError:
            raise ConfigError(field, item, allowed) from None
        if "/" not in item:
            raise ConfigError(field, item, allowed + " (a prefix length is required)")
        if network.prefixlen == 0:
            raise ConfigError(field, item, allowed + ", never 0.0.0.0/0")
    if len(set(value)) != len(value):
        raise ConfigError(field, value, allowed + ", each once")
    return tuple(value)


def _selected(raw: Mapping[str, Any], table: Mapping[str, Any]) -> list[str]:
    """The environments to build: all of the table, or TODO_ENVIRONMENTS' comma list (no empty item, no repeat)."""
    selected = raw.get("environments_selected")
    if selected is None:
        return list(table)
    names = [name.strip() for name in str(selected).split(",")]
    allowed = "a comma list of " + ", ".join(ENVIRONMENTS) + ", each at most once"
    if "" in names:
        raise ConfigError("TODO_ENVIRONMENTS", selected, allowed + " (an empty item)")
    if len(set(names)) != len(names):
        raise ConfigError("TODO_ENVIRONMENTS", selected, allowed + " (a repeated item)")
    return names


def _environments(raw: Mapping[str, Any], domain: str) -> tuple[Environment, ...]:
    table = raw.get("environments")
    if not isinstance(table, Mapping) or not table:
        raise ConfigError("environments", table, "a map of " + " and ".join(ENVIRONMENTS))
    names = _selected(raw, table)
    for name in [*table, *names]:
        if name not in ENVIRONMENTS:
            raise ConfigError("environments", name, "one of " + ", ".join(ENVIRONMENTS))
    result = []
    for name in names:
        env = table.get(name)
        if not isinstance(env, Mapping):
            raise ConfigError(
                f"environments.{name}", env, "a map with host_prefix and optional default_image_tag, token_generation"
            )
        for key in env:
            if key not in ENVIRONMENT_KEYS:
                raise ConfigError.unknown(key, ENVIRONMENT_KEYS, f"setting of environments.{name}")
        prefix = _text(env, "host_prefix", _NAME_DOTTED, "a DNS label prefix such as todo or staging.todo")
        tag = None
        if env.get("default_image_tag") is not None:
            tag = _text(env, "default_image_tag", re.compile(IMAGE_TAG_PATTERN), IMAGE_TAG_GRAMMAR)
        generation = _int(env, "token_generation", 1, 10_000) if "token_generation" in env else 1
        result.append(
            Environment(
                name=name, host_prefix=prefix, domain=domain, default_image_tag=tag, token_generation=generation
            )
        )
    return tuple(result)


def check_known_keys(context: Mapping[str, Any], where: str) -> None:
    for key in context:
        if key not in CONTEXT_KEYS:
            raise ConfigError.unknown(key, CONTEXT_KEYS, f"setting in {where}")


def _overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Context fields set by TODO_* variables. An unknown TODO_* variable or an empty value is refused; with
    TODO_REQUIRE_CONFIGURATION=true (the workflows), every repository variable must be set."""
    if env_flag(environ, REQUIRE_ENV):
        missing = [name for name in DEPLOY_REQUIRED if not environ.get(name)]
        if missing:
            raise ConfigError.saying(
                f"a deploy needs its configuration set explicitly, not the example defaults: set {', '.join(missing)} "
                "(GitHub repository variables)"
            )
    fields: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith("TODO_") or name in CONTROL_ENV:
            continue
        if name not in ENV_OVERRIDES:
            raise ConfigError.unknown(name, [*ENV_OVERRIDES, *CONTROL_ENV], "variable")
        if value == "":
            raise ConfigError(name, value, "a value: unset the variable to use the default of cdktf.json")
        field = ENV_OVERRIDES[name]
        fields["environments_selected" if field == "environments" else field] = value
    return fields


def load_settings(context: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Merge `cdktf.json` context with `TODO_*` overrides and validate every field."""
    from todo_infra.node_sizes import node_sizes  # noqa: PLC0415  (it imports this module)

    check_known_keys(context, "the configuration")
    raw: dict[str, Any] = {**context, **_overrides(environ)}

    domain = _text(raw, "domain", _DOMAIN, "a lower-case DNS domain such as example.com")
    node_min = _int(raw, "node_min", 1, 50)
    node_max = _int(raw, "node_max", 1, 50)
    if node_min > node_max:
        raise ConfigError("node_min", node_min, f"at most node_max ({node_max})")
    backend = _choice(raw, "state_backend", BACKEND_MODES)
    project = _text(raw, "project", _NAME, "a DNS label such as hackathon-todo")
    settings = Settings(
        project=project,
        domain=domain,
        ghcr_owner=_text(raw, "ghcr_owner", _NAME, "a lower-case GitHub owner name"),
        operator_email=_text(raw, "operator_email", _EMAIL, "an e-mail address such as ops@example.com"),
        dns_on_digitalocean=_bool(raw, "dns_on_digitalocean"),
        state=StateSettings(
            backend=backend,
            bucket=_text(raw, "state_bucket", _BUCKET, "a Spaces bucket name (3-63 of a-z, 0-9, -)"),
            endpoint=_text(
                raw, "state_endpoint", _HTTPS_URL, "an https:// endpoint such as https://fra1.digitaloceanspaces.com"
            ),
            key_prefix=project,
        ),
        backup=BackupSettings(
            bucket=_text(raw, "backup_bucket", _BUCKET, "a Spaces bucket name (3-63 of a-z, 0-9, -)"),
            endpoint=_text(
                raw, "backup_endpoint", _HTTPS_URL, "an https:// endpoint such as https://ams3.digitaloceanspaces.com"
            ),
        ),
        cluster=ClusterSettings(
            name=_text(raw, "cluster_name", _NAME, "a DNS label such as todo-cluster"),
            region=_choice(raw, "region", DOKS_REGIONS),
            kubernetes_minor_prefix=_text(
                raw, "kubernetes_minor_prefix", _MINOR_PREFIX, "a minor prefix such as 1.33."
            ),
            vpc_ip_range=_text(
                raw,
                "vpc_ip_range",
                re.compile(r"^10\.[0-9]{1,3}\.[0-9]{1,3}\.0/(16|20|24)$"),
                "a 10.x.y.0/16|20|24 range",
            ),
            # The sizes of the node-size table (todo_infra/node_sizes.json), which preflight's capacity and cost read.
            node_size=node_sizes().get(raw.get("node_size")).slug,
            node_min=node_min,
            node_max=node_max,
            ha_control_plane=_bool(raw, "ha_control_plane"),
            control_plane_allowed_addresses=_cidrs(raw, "control_plane_allowed_addresses"),
            maintenance_day=_choice(raw, "maintenance_day", WEEKDAYS),
            maintenance_start_time=_text(
                raw, "maintenance_start_time", re.compile(r"^([01][0-9]|2[0-3]):00$"), "a full hour HH:00 (UTC)"
            ),
        ),
        environments=_environments(raw, domain),
        edge=_choice({"edge": raw.get("edge", EDGE_ENVOY_GATEWAY)}, "edge", EDGES),
        log_shipper=_choice(
            {"log_shipper": raw.get("log_shipper", LOG_SHIPPER_CHOICES[0])}, "log_shipper", LOG_SHIPPER_CHOICES
        ),
        alerting=_choice({"alerting": raw.get("alerting", ALERTING_CHOICES[0])}, "alerting", ALERTING_CHOICES),
    )
    from todo_infra.local_target import apply_target  # noqa: PLC0415  (it imports this module)

    settings = apply_target(raw, settings)
    _check_derived_buckets(settings)
    _check_backup_region(settings)
    return settings


#: A DigitalOcean Spaces endpoint names its region: https://<region>.digitaloceanspaces.com.
_SPACES_REGION = re.compile(r"^https://(?P<region>[a-z0-9]+)[.]digitaloceanspaces[.]com/?$")


def _check_backup_region(settings: Settings) -> None:
    """The Redis backups are copied off the cluster to survive the loss of its region: a Spaces endpoint in the
    cluster's own region is refused (docs/configuration.md). An endpoint that names no Spaces region is taken as
    given."""
    match = _SPACES_REGION.fullmatch(settings.backup.endpoint)
    if match and match["region"] == settings.cluster.region:
        raise ConfigError(
            "backup_endpoint",
            settings.backup.endpoint,
            f"a Spaces endpoint in another region than the cluster's ({settings.cluster.region}): backups in the "
            "cluster's region are lost with it",
        )


def _check_derived_buckets(settings: Settings) -> None:
    """The buckets derived per environment are still Spaces bucket names (at most 63 characters), and no bucket is
    two things at once (a backup bucket that is also a state bucket would give a backup key reach into state)."""
    bases = [("backup_bucket", settings.backup.bucket, "Redis backups")]
    if settings.state.backend == "s3":
        bases.insert(0, ("state_bucket", settings.state.bucket, "state"))
    longest = max(len(env.name) for env in settings.environments)
    for field, base, what in bases:
        for env in settings.environments:
            name = environment_bucket(base, env.name)
            if len(name) > BUCKET_NAME_MAX:
                raise ConfigError(
                    field,
                    base,
                    f"at most {BUCKET_NAME_MAX - 1 - longest} characters: {env.name}'s {what} bucket {name!r} would "
                    f"exceed Spaces' limit of {BUCKET_NAME_MAX}",
                )
    if settings.state.backend != "s3":
        return
    state = {settings.state.bucket_for(stack_id): stack_id for stack_id in settings.stack_ids}
    for env in settings.environments:
        name = settings.backup.bucket_for(env.name)
        if name in state:
            raise ConfigError(
                "backup_bucket",
                settings.backup.bucket,
                f"a name whose buckets are not state buckets: {env.name}'s backup bucket {name!r} is the state bucket "
                f"of {state[name]}",
            )

"""The `todo-app` helm release of ./chart for one environment: base values, the environment's file, and the image
tag and per-service digests the deploy workflow verified (docs/architecture.md, "Releases", "Images")."""

from __future__ import annotations

import json

from cdktf import (
    Fn,
    ITerraformDependable,
    Op,
    Precondition,
    TerraformResourceLifecycle,
    TerraformVariable,
)
from cdktf_cdktf_provider_helm.release import ReleaseSet
from cdktf_cdktf_provider_kubernetes.data_kubernetes_config_map_v1 import (
    DataKubernetesConfigMapV1,
    DataKubernetesConfigMapV1Metadata,
)
from constructs import Construct

from todo_infra.access import FACT_CLUSTER_ISSUER, FACT_INGRESS_CLASS, PLATFORM_FACTS
from todo_infra.app_secrets import APP_STACK_SECRETS, dapr_app_token_secret
from todo_infra.chart_values import CHART_DIR, base_values, chart_sets
from todo_infra.contracts import APP_RELEASE, BASE_VALUES
from todo_infra.helm import helm_release, local_chart
from todo_infra.secrets import revision_variable_name
from todo_infra.settings import IMAGE_TAG_GRAMMAR, IMAGE_TAG_PATTERN, ConfigError, Environment, Settings

#: Five Deployments with Dapr sidecars, a Redis PVC to bind and atomic rollback on failure: 10 minutes.
TIMEOUT_SECONDS = 600
#: The Terraform variable of the per-service digests (a name the workflows and preflight use too).
IMAGE_DIGESTS = "image_digests"
#: An image digest as the registry reports it and the chart schema accepts it.
IMAGE_DIGEST_PATTERN = "^sha256:[0-9a-f]{64}$"


def chart_services() -> tuple[str, ...]:
    """The services the chart runs (`services` in chart/values.yaml): the keys `image_digests` must have, read from
    the chart so the two cannot disagree."""
    return tuple(base_values()["services"])


def dapr_app_ids() -> tuple[str, ...]:
    """The Dapr app-ids of the chart (the enabled services with dapr.enabled in chart/values.yaml, sorted): each gets
    its own app-token Secret from the app stack, named as the chart's dapr.io/app-token-secret annotation names it."""
    services = base_values()["services"]
    return tuple(sorted(name for name, svc in services.items() if svc["enabled"] and svc["dapr"]["enabled"]))


def app_stack_secrets() -> tuple[str, ...]:
    """Every Secret the app stack writes: the fixed ones and one app-token Secret per Dapr app-id."""
    return (*APP_STACK_SECRETS, *(dapr_app_token_secret(app_id) for app_id in dapr_app_ids()))


def image_tag_variable(scope: Construct, env: Environment) -> TerraformVariable:
    """`image_tag`, refused at plan time unless it follows the tag grammar (docs/architecture.md, "Images")."""
    variable = TerraformVariable(
        scope,
        "image-tag",
        type="string",
        nullable=False,
        default=env.default_image_tag,
        description=f"Image tag of every service: {IMAGE_TAG_GRAMMAR}",
    )
    variable.override_logical_id("image_tag")
    variable.add_validation(
        condition=Fn.can(Fn.regex(IMAGE_TAG_PATTERN, variable.string_value)),
        error_message=f"image_tag must be {IMAGE_TAG_GRAMMAR}.",
    )
    return variable


def image_digests_variable(scope: Construct, services: tuple[str, ...]) -> TerraformVariable:
    """`image_digests`: service -> sha256 digest of the image the deploy workflow verified, for exactly the chart's
    services. No default, in either environment: a release without verified digests is refused at plan time."""
    variable = TerraformVariable(
        scope,
        IMAGE_DIGESTS,
        type="map(string)",
        nullable=False,
        description="Digest (sha256:<64 hex>) of each service's verified image: " + ", ".join(services),
    )
    # Written as Terraform text, not cdktf tokens: a token nested in a `for` expression is emitted as `${...}` inside
    # the outer interpolation, which Terraform refuses.
    every_digest = (
        f"alltrue([for service in {json.dumps(list(services))} : "
        f'can(regex("{IMAGE_DIGEST_PATTERN}", lookup(var.{IMAGE_DIGESTS}, service, "")))])'
    )
    variable.add_validation(
        condition=f"${{length(var.{IMAGE_DIGESTS}) == {len(services)} && {every_digest}}}",
        error_message=(
            f"image_digests must map each of {', '.join(services)} (and nothing else) to sha256:<64 hex>, "
            "the digests the deploy workflow verified."
        ),
    )
    return variable


def secret_revision_sets(secrets: tuple[str, ...] | None = None) -> dict[str, str]:
    """One chart key per Secret the app stack writes (app_stack_secrets()): `global.secretRevisions.<secret>` from the
    Secret's revision variable (a keyed digest, never a value), which the pod templates that read it carry."""
    names = app_stack_secrets() if secrets is None else secrets
    return {f"global.secretRevisions.{name}": f"${{var.{revision_variable_name(name)}}}" for name in names}


def image_digest_sets(services: tuple[str, ...]) -> dict[str, str]:
    """One chart key per service: `global.imageDigests.<service>` from the variable's entry for it."""
    return {f"global.imageDigests.{service}": f'${{var.{IMAGE_DIGESTS}["{service}"]}}' for service in services}


class TodoRelease(Construct):
    """`helm_release` todo-app: base values + values-<env>.yaml, image tag from a validated variable.

    The chart is copied into the stack as an asset, so `cdktf.out/stacks/<stack>` plans on its own.
    A precondition refuses to release when the platform's ingress class or cluster issuer differ from the names
    this release gives the chart: the platform writes them into the namespace (ConfigMap todo-platform,
    todo_infra/access.py), where the environment's own identity reads them; no other stack's state is read.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: Settings,
        env: Environment,
        depends_on: list[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        files = (BASE_VALUES, env.values_file, *env.overlays)  # overlays: the local target's values-local.yaml
        for values_file in files:
            if not (CHART_DIR / values_file).is_file():
                raise ConfigError("values file", f"chart/{values_file}", "an existing file under chart/")
        chart = local_chart(self, CHART_DIR)
        image_tag = image_tag_variable(self, env)
        services = chart_services()
        image_digests_variable(scope, services)
        chart_values = {
            **chart_sets(settings, env, image_tag=image_tag.string_value),
            **image_digest_sets(services),
            **secret_revision_sets(),
        }
        facts = DataKubernetesConfigMapV1(
            self,
            "platform-facts",
            metadata=DataKubernetesConfigMapV1Metadata(name=PLATFORM_FACTS, namespace=env.namespace),
        ).data
        agrees_with_platform = Op.and_(
            Op.eq(Fn.lookup(facts, FACT_INGRESS_CLASS, ""), settings.ingress_class),
            Op.eq(Fn.lookup(facts, FACT_CLUSTER_ISSUER, ""), settings.cluster_issuer),
        )
        self.release = helm_release(
            self,
            name=APP_RELEASE,
            namespace=env.namespace,
            chart=chart,
            values=[Fn.file(f"{chart}/{values_file}") for values_file in files],
            set=[ReleaseSet(name=name, value=value, type="string") for name, value in chart_values.items()],
            timeout=TIMEOUT_SECONDS,
            depends_on=depends_on,
            lifecycle=TerraformResourceLifecycle(
                precondition=[
                    Precondition(
                        condition=agrees_with_platform,
                        error_message=(
                            f"The platform stack must provide ingress class {settings.ingress_class!r} and "
                            f"cluster issuer {settings.cluster_issuer!r}; deploy platform first."
                        ),
                    )
                ]
            ),
        )

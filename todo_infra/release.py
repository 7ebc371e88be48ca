"""The `todo-app` helm release of ./chart for one environment (docs/architecture.md, "Releases")."""

from __future__ import annotations

from pathlib import Path

from cdktf import (
    Fn,
    ITerraformDependable,
    Op,
    Precondition,
    TerraformResourceLifecycle,
    TerraformVariable,
)
from cdktf_cdktf_provider_helm.release import ReleaseSet
from constructs import Construct

from todo_infra.chart_values import chart_sets
from todo_infra.contracts import APP_RELEASE, BASE_VALUES, CLUSTER_ISSUER, INGRESS_CLASS
from todo_infra.helm import helm_release, local_chart
from todo_infra.settings import IMAGE_TAG_GRAMMAR, IMAGE_TAG_PATTERN, ConfigError, Environment, Settings
from todo_infra.state import Upstream

CHART_DIR = Path(__file__).resolve().parent.parent / "chart"
#: Five Deployments with Dapr sidecars, a Redis PVC to bind and atomic rollback on failure: 10 minutes.
TIMEOUT_SECONDS = 600


def image_tag_variable(scope: Construct, env: Environment) -> TerraformVariable:
    """`image_tag`, refused at plan time unless it follows the tag grammar (docs/architecture.md, "Images")."""
    variable = TerraformVariable(
        scope,
        "image-tag",
        type="string",
        nullable=False,
        default=env.default_image_tag,
        description=f"Image tag of all five services: {IMAGE_TAG_GRAMMAR}",
    )
    variable.override_logical_id("image_tag")
    variable.add_validation(
        condition=Fn.can(Fn.regex(IMAGE_TAG_PATTERN, variable.string_value)),
        error_message=f"image_tag must be {IMAGE_TAG_GRAMMAR}.",
    )
    return variable


class TodoRelease(Construct):
    """`helm_release` todo-app: base values + values-<env>.yaml, image tag from a validated variable.

    The chart is copied into the stack as an asset, so `cdktf.out/stacks/<stack>` plans on its own.
    A precondition refuses to release when the platform stack's ingress class or cluster issuer differ
    from the names this release gives the chart.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: Settings,
        env: Environment,
        upstream: Upstream,
        depends_on: list[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        for values_file in (BASE_VALUES, env.values_file):
            if not (CHART_DIR / values_file).is_file():
                raise ConfigError("values file", f"chart/{values_file}", "an existing file under chart/")
        chart = local_chart(self, CHART_DIR)
        image_tag = image_tag_variable(self, env)
        chart_values = chart_sets(settings, env, image_tag=image_tag.string_value)
        agrees_with_platform = Op.and_(
            Op.eq(upstream.string(INGRESS_CLASS), settings.ingress_class),
            Op.eq(upstream.string(CLUSTER_ISSUER), settings.cluster_issuer),
        )
        self.release = helm_release(
            self,
            name=APP_RELEASE,
            namespace=env.namespace,
            chart=chart,
            values=[Fn.file(f"{chart}/{BASE_VALUES}"), Fn.file(f"{chart}/{env.values_file}")],
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

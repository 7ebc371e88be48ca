"""Who runs when nodes are short, and what a drain may take down (docs/architecture.md, "Priorities", "Upgrades").

- PriorityClasses: platform > production > staging. Losing a node of the minimum pool leaves pods pending until the
  autoscaler adds one; the scheduler places the higher classes first and evicts lower ones to do so. Created before
  any add-on, because a pod naming a class that does not exist is refused.
- PodDisruptionBudgets of the Dapr control plane's Deployments: the Dapr chart renders budgets for them only in its
  HA mode (three replicas of everything, placement included); the platform runs two replicas of the operator,
  sentry and injector instead (k8s/addons/dapr.yaml) and budgets them here, so a surge upgrade that drains every old
  node at once evicts one replica at a time. The scheduler's budget comes with the chart.
"""

from __future__ import annotations

from cdktf_cdktf_provider_kubernetes.pod_disruption_budget_v1 import (
    PodDisruptionBudgetV1,
    PodDisruptionBudgetV1Metadata,
    PodDisruptionBudgetV1Spec,
    PodDisruptionBudgetV1SpecSelector,
)
from cdktf_cdktf_provider_kubernetes.priority_class_v1 import PriorityClassV1, PriorityClassV1Metadata
from constructs import Construct

from todo_infra.contracts import PRIORITIES

#: Dapr control-plane Deployments that run two replicas, by their pods' `app` label (dapr/dapr v1.18.3,
#: charts/dapr/charts/dapr_{operator,sentry,sidecar_injector}/templates/*_deployment.yaml).
DAPR_BUDGETED = ("dapr-operator", "dapr-sentry", "dapr-sidecar-injector")


class PriorityClasses(Construct):
    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(scope, id_)
        self.classes = [
            PriorityClassV1(
                self,
                priority.name,
                metadata=PriorityClassV1Metadata(name=priority.name),
                value=priority.value,
                description=priority.description,
                global_default=False,
                preemption_policy="PreemptLowerPriority",
            )
            for priority in PRIORITIES
        ]


class DaprDisruptionBudgets(Construct):
    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        self.budgets = [
            PodDisruptionBudgetV1(
                self,
                app,
                metadata=PodDisruptionBudgetV1Metadata(name=app, namespace=namespace),
                spec=PodDisruptionBudgetV1Spec(
                    max_unavailable="1", selector=PodDisruptionBudgetV1SpecSelector(match_labels={"app": app})
                ),
            )
            for app in DAPR_BUDGETED
        ]

"""The names that tie the stacks, the charts and the checks together, each written once.

Stack ids, the outputs one stack produces for another, release names and values files are used on both sides of
a contract (producer and consumer, stack and preflight, code and tests); they are declared here and imported
everywhere, so a rename is one edit and a mismatch cannot be typed. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Stack ids, in deploy order (docs/architecture.md, "Stacks"). App stacks are `app-<environment>`.
CLUSTER_STACK = "cluster"
PLATFORM_STACK = "platform"
APP_STACK_PREFIX = "app-"

#: The app's Helm release, and the platform's local chart of cluster-wide custom resources.
APP_RELEASE = "todo-app"
BOOTSTRAP_RELEASE = "cluster-bootstrap"

#: The chart's values files: the base, then one delta file per environment.
BASE_VALUES = "values.yaml"


#: The namespace of each edge's proxies (its add-on's namespace), and the Gateway the platform runs for the
#: Gateway API edge: one Gateway, one load balancer, a listener pair per app environment (docs/architecture.md, "Edge").
EDGE_NAMESPACES = {"envoy-gateway": "envoy-gateway-system", "ingress-nginx": "ingress-nginx"}
GATEWAY_NAME = "todo"


def gateway_listener(protocol: str, namespace: str) -> str:
    """The name of an app namespace's listener on the platform's Gateway: http-<namespace> or https-<namespace>."""
    return f"{protocol}-{namespace}"


def app_stack_id(environment: str) -> str:
    return f"{APP_STACK_PREFIX}{environment}"


def stack_environment(stack_id: str) -> str | None:
    """The environment of an app stack (`app-<environment>`); None for the shared stacks (cluster, platform)."""
    return stack_id.removeprefix(APP_STACK_PREFIX) if stack_id.startswith(APP_STACK_PREFIX) else None


def app_component_name(component: str) -> str:
    """What the chart names a component's objects (its `todo.componentName`: <release>-<component>)."""
    return f"{APP_RELEASE}-{component}"


def values_file(environment: str) -> str:
    return f"values-{environment}.yaml"


@dataclass(frozen=True)
class StackOutput:
    """A named output one stack produces and others read through `terraform_remote_state`."""

    producer: str
    name: str


CLUSTER_NAME = StackOutput(CLUSTER_STACK, "cluster_name")
CLUSTER_ID = StackOutput(CLUSTER_STACK, "cluster_id")
CLUSTER_REGION = StackOutput(CLUSTER_STACK, "region")
VPC_ID = StackOutput(CLUSTER_STACK, "vpc_id")
INGRESS_CLASS = StackOutput(PLATFORM_STACK, "ingress_class")
CLUSTER_ISSUER = StackOutput(PLATFORM_STACK, "cluster_issuer")
LOAD_BALANCER_IP = StackOutput(PLATFORM_STACK, "load_balancer_ip")
MONITORING_NAMESPACE = StackOutput(PLATFORM_STACK, "monitoring_namespace")
DAPR_NAMESPACE = StackOutput(PLATFORM_STACK, "dapr_namespace")

OUTPUTS = (
    CLUSTER_NAME,
    CLUSTER_ID,
    CLUSTER_REGION,
    VPC_ID,
    INGRESS_CLASS,
    CLUSTER_ISSUER,
    LOAD_BALANCER_IP,
    MONITORING_NAMESPACE,
    DAPR_NAMESPACE,
)


@dataclass(frozen=True)
class Priority:
    """A PriorityClass the platform creates and the pods of this repo name: when nodes are short (a node lost, a
    drain), the scheduler places higher values first and may evict lower ones to do so (docs/architecture.md,
    "Priorities")."""

    name: str
    value: int
    description: str


PLATFORM_PRIORITY = Priority(
    "todo-platform", 100_000, "Platform add-ons of hackathon-todo: ingress, certificates, Dapr, monitoring, logs."
)
#: Per environment, in the order the scheduler serves them.
APP_PRIORITIES = {
    "production": Priority("todo-production", 10_000, "The hackathon-todo app in production."),
    "staging": Priority("todo-staging", 1_000, "The hackathon-todo app in staging: waits first when nodes are short."),
}
PRIORITIES = (PLATFORM_PRIORITY, *APP_PRIORITIES.values())

"""The constructs of the local target (todo_infra/local_target.py; docs/architecture.md, "Local target").

- `LocalKubeAccess`: the Kubernetes and Helm providers from a kubeconfig file and context, by name only (no host,
  token or certificate in the stacks or their state), in both the platform and the app stack.
- `mark_local` / `local_overlays`: a stack marked local gives every add-on release the committed overlay
  `k8s/addons/local/<release>.yaml` when there is one, as its last values document. The overlay is found by the
  release's name at synth time, so whatever add-ons the platform installs are slimmed (or kept as they are) without
  a second list here; preflight's capacity model reads the overlays like any other values document.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider
from constructs import Construct

from todo_infra.local_target import LocalTarget

if TYPE_CHECKING:
    from todo_infra.addons import Addon

#: The overlays of the local target's add-ons, one file per release that needs one.
LOCAL_ADDON_VALUES_DIR = Path(__file__).resolve().parent.parent / "k8s" / "addons" / "local"
#: Construct context that marks a stack as the local target's (set before any child exists).
_LOCAL_CONTEXT = "todo:local-target"


def mark_local(stack: Construct) -> None:
    """Mark a stack (before anything is added to it) as built for the local target."""
    stack.node.set_context(_LOCAL_CONTEXT, True)


def is_local(scope: Construct) -> bool:
    return scope.node.try_get_context(_LOCAL_CONTEXT) is True


def local_overlay_file(release: str) -> Path:
    return LOCAL_ADDON_VALUES_DIR / f"{release}.yaml"


def local_overlays(scope: Construct, addon: Addon) -> list[str]:
    """The add-on's local overlay as a values document, when `scope` is in a local stack and the overlay exists."""
    path = local_overlay_file(addon.release)
    return [path.read_text()] if is_local(scope) and path.is_file() else []


class LocalKubeAccess(Construct):
    """Kubernetes and Helm providers for the kubeconfig context of the local target."""

    def __init__(self, scope: Construct, id_: str, *, target: LocalTarget) -> None:
        super().__init__(scope, id_)
        KubernetesProvider(self, "kubernetes", config_path=target.kubeconfig, config_context=target.kube_context)
        HelmProvider(
            self,
            "helm",
            kubernetes=HelmProviderKubernetes(config_path=target.kubeconfig, config_context=target.kube_context),
        )

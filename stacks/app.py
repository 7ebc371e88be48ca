from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1, NamespaceV1Metadata
from constructs import Construct

from todo_infra.contracts import CLUSTER_NAME
from todo_infra.kube import KubeAccess
from todo_infra.pod_security import namespace_labels
from todo_infra.protection import protect
from todo_infra.release import TodoRelease
from todo_infra.secrets import AppSecrets, BackupSpacesSecret, GhcrPullSecret
from todo_infra.settings import Environment, Settings
from todo_infra.state import Upstream, state_backend


class AppStack(TerraformStack):
    """One environment's release of the todo app: namespace, secrets (app, image pull, backup key), helm release."""

    def __init__(self, scope: Construct, id_: str, *, settings: Settings, env: Environment) -> None:
        super().__init__(scope, id_)
        state_backend(self, settings.state)
        upstream = Upstream(self, settings.state)
        KubeAccess(self, "kube", cluster_name=upstream.string(CLUSTER_NAME))

        namespace = NamespaceV1(
            self,
            f"namespace-{env.namespace}",
            metadata=NamespaceV1Metadata(
                name=env.namespace, labels=namespace_labels(settings.cluster.kubernetes_minor_prefix)
            ),
        )
        app_secrets = AppSecrets(self, "app-secrets", namespace=namespace.metadata.name)
        pull_secret = GhcrPullSecret(self, "ghcr-pull-secret", namespace=namespace.metadata.name)
        backup_secret = BackupSpacesSecret(self, "redis-backup-spaces", namespace=namespace.metadata.name)
        release = TodoRelease(
            self,
            "todo-app",
            settings=settings,
            env=env,
            upstream=upstream,
            depends_on=[app_secrets.secret, pull_secret.secret, backup_secret.secret],
        )
        protect(namespace, release.release)  # Redis' volume claim lives in this release and namespace

        TerraformOutput(self, "namespace", value=namespace.metadata.name, static_id=True)
        TerraformOutput(self, "host", value=env.host, static_id=True)
        TerraformOutput(self, "release_revision", value=release.release.metadata.revision, static_id=True)

from __future__ import annotations

from cdktf import ITerraformDependable, TerraformOutput, TerraformStack
from constructs import Construct

from todo_infra.kube import EnvironmentKubeAccess
from todo_infra.local_stacks import LocalKubeAccess
from todo_infra.protection import protect, release_namespace_to_platform
from todo_infra.release import TodoRelease, dapr_app_ids
from todo_infra.secrets import AppSecrets, BackupSpacesSecret, DaprAppTokens, GhcrPullSecret
from todo_infra.settings import Environment, Settings
from todo_infra.state import state_backend


class AppStack(TerraformStack):
    """One environment's release of the todo app: secrets (app, Dapr app tokens, image pull, backup key) and the helm
    release, in the namespace the platform creates, as the environment's own deployer identity
    (todo_infra/access.py)."""

    def __init__(self, scope: Construct, id_: str, *, settings: Settings, env: Environment) -> None:
        super().__init__(scope, id_)
        state_backend(self, settings.state)
        if settings.local is not None:  # the local target: the kubeconfig's context (todo_infra/local_stacks.py)
            LocalKubeAccess(self, "kube", target=settings.local)
        else:
            EnvironmentKubeAccess(self, "kube")
        release_namespace_to_platform(self, env.namespace)

        secrets: list[ITerraformDependable] = [AppSecrets(self, "app-secrets", namespace=env.namespace).secret]
        secrets.extend(DaprAppTokens(self, "dapr-app-tokens", namespace=env.namespace, app_ids=dapr_app_ids()).secrets)
        if settings.local is None:  # the local target pulls a public stand-in and copies no backup to Spaces
            secrets.append(GhcrPullSecret(self, "ghcr-pull-secret", namespace=env.namespace).secret)
            secrets.append(BackupSpacesSecret(self, "redis-backup-spaces", namespace=env.namespace).secret)
        release = TodoRelease(self, "todo-app", settings=settings, env=env, depends_on=secrets)
        protect(release.release)  # Redis' volume claim lives in this release

        TerraformOutput(self, "namespace", value=env.namespace, static_id=True)
        TerraformOutput(self, "host", value=env.host, static_id=True)
        TerraformOutput(self, "release_revision", value=release.release.metadata.revision, static_id=True)

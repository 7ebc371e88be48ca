#!/usr/bin/env bash
# Refuse to go on when an environment is weaker than the required settings (docs/workflows.md): the one this run uses and every one
# the gates on main check everywhere (the pull-request plan environments and drift), read from the API
# (GET environments/<name> and its deployment-branch-policies; `actions: read`). deploy_gate.py holds the table of
# what each environment needs and prints one `::error` line per problem, naming the environment. Shared by deploy.yml's
# gate and drift.yml's gate; runs main's own copy of the scripts.
#
# Environment: ENVIRONMENT (the environment this run uses), REPOSITORY (owner/name), GH_TOKEN.
set -eo pipefail

answers="${RUNNER_TEMP}/environments"
mkdir -p "${answers}"
names="$(python3 .github/scripts/deploy_gate.py checked --environment "${ENVIRONMENT}")"
for name in ${names}; do
  # A failed call leaves its message in <name>.error; deploy_gate.py reports it as a problem of that environment.
  gh api "repos/${REPOSITORY}/environments/${name}" > "${answers}/${name}.json" 2> "${answers}/${name}.error" || true
  gh api "repos/${REPOSITORY}/environments/${name}/deployment-branch-policies" \
    > "${answers}/${name}.policies.json" 2> "${answers}/${name}.policies.error" || true
done
python3 .github/scripts/deploy_gate.py environments --environment "${ENVIRONMENT}" --answers "${answers}"

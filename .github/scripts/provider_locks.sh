#!/usr/bin/env bash
# Regenerates locks/<stack>.terraform.lock.hcl for every synthesized stack from the registry, with the hashes of every
# platform in todo_infra/provider_locks.py (PLATFORMS): `terraform providers lock` checks each package against the
# registry's signed SHA256SUMS before it records it. Run by provider-locks.yml after `python3 dev.py synth`, with the
# pinned Terraform on PATH. Prints the stacks whose lock changed.
set -euo pipefail

platforms=()
for platform in $(python3 -c 'from todo_infra.provider_locks import PLATFORMS; print(" ".join(PLATFORMS))'); do
  platforms+=("-platform=${platform}")
done
for folder in cdktf.out/stacks/*/; do
  stack="$(basename "${folder}")"
  rm -f "${folder}.terraform.lock.hcl"
  terraform -chdir="${folder}" providers lock "${platforms[@]}" > /dev/null
  cp "${folder}.terraform.lock.hcl" "locks/${stack}.terraform.lock.hcl"
done
printf '{}\n' > locks/awaiting.json
# Every hash now comes from the registry (terraform checked each package against its signed SHA256SUMS).
python3 -c 'from todo_infra.provider_locks import record_registry_sources; record_registry_sources()'
git status --porcelain -- locks

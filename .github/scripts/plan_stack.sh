#!/usr/bin/env bash
# Plan one synthesized stack, read only, and write its report. Shared by cdktf-diff.yml (PLAN_KIND=changes: what a
# pull request would change) and drift.yml (PLAN_KIND=drift: `-refresh-only`, how the real infrastructure differs
# from state). Neither holds a secret value or a credential that can write: every sensitive variable of the stack is
# the public placeholder, the write-only Secrets' revisions are derived under a public key, every image digest is the
# all-zero placeholder, and -lock=false (a plan never writes the state bucket, and never blocks a deploy).
#
# Per kind of stack (require_tf_vars.py STACK_CREDENTIALS):
# - cluster, platform: the read-only DigitalOcean token; refreshed as usual.
# - app-*: no DigitalOcean token (refused if given); the plan environment's reader ServiceAccount as the Terraform
#   variables kube_endpoint, kube_ca_certificate and kube_token (set by the job, never replaced by a placeholder). A
#   changes plan runs with -refresh=false: the reader may not read Secrets, and Helm keeps its release records in
#   Secrets, so the plan shows what the code changes against the recorded state. No drift plan: refreshing an app
#   stack reads its Secrets, which no credential of an unreviewed run may do (drift.yml plans cluster and platform).
#
# Environment: STACK; ENVIRONMENT (the GitHub environment, named in errors); PLAN_KIND (changes | drift); COMMIT
# (named in the report); IMAGE_COMMIT (its sha-<7> is the plan's image_tag); REPORT (where the report goes); the
# cloud read credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and DIGITALOCEAN_TOKEN (cluster, platform) or
# TF_VAR_kube_endpoint, TF_VAR_kube_ca_certificate, TF_VAR_kube_token (app-*); SECRETS_DIGEST_KEY.
# Writes status=<terraform's exit code> to $GITHUB_OUTPUT (-detailed-exitcode: 0 none, 2 changes or drift, anything
# else failed) and itself succeeds, so that the report is uploaded before the job fails on a failed plan.
set -eo pipefail

stack_dir="cdktf.out/stacks/${STACK}"
plan="${RUNNER_TEMP}/plan-${STACK}.txt"
status=0
keep=()
mode=()
render=()
case "${PLAN_KIND}:${STACK}" in
  changes:app-*)
    keep=(--keep kube_endpoint --keep kube_ca_certificate --keep kube_token)
    mode=(-refresh=false)
    render=(--no-refresh)
    ;;
  changes:*) ;;
  drift:app-*)
    echo "::error title=No drift check of ${STACK}::a refresh of an app stack reads its Secrets; drift.yml plans cluster and platform only" > "${plan}"
    status=1
    ;;
  drift:*) mode=(-refresh-only) ;;
  *)
    echo "::error title=Unknown plan kind::PLAN_KIND must be changes or drift, not '${PLAN_KIND}'" > "${plan}"
    status=1
    ;;
esac

placeholders="$(python3 .github/scripts/plan_report.py placeholders --stack-json "${stack_dir}/cdk.tf.json" "${keep[@]}")"
eval "${placeholders}"
export TF_VAR_image_tag="sha-${IMAGE_COMMIT:0:7}"
digests="$(python3 .github/scripts/images.py placeholder-digests)"
export TF_VAR_image_digests="${digests}"
revisions="$(python3 dev.py revisions "${STACK}")"
eval "${revisions}"

if [ "${status}" -eq 0 ]; then
  python3 .github/scripts/require_tf_vars.py "${stack_dir}/cdk.tf.json" \
    --environment "${ENVIRONMENT}" --stack-credentials > "${plan}" 2>&1 || status=1
fi
if [ "${status}" -eq 0 ]; then
  terraform -chdir="${stack_dir}" init -input=false -no-color > "${plan}" 2>&1 || status=$?
fi
if [ "${status}" -eq 0 ]; then
  terraform -chdir="${stack_dir}" plan -input=false -lock=false -no-color "${mode[@]}" \
    -detailed-exitcode > "${plan}" 2>&1 || status=$?
fi
cat "${plan}"
python3 .github/scripts/plan_report.py render --kind "${PLAN_KIND}" --stack "${STACK}" --exit-code "${status}" \
  --plan "${plan}" --commit "${COMMIT}" --out "${REPORT}" "${render[@]}"
echo "status=${status}" >> "${GITHUB_OUTPUT}"

#!/usr/bin/env bash
# Plan one synthesized stack, read only, and write its report. Shared by cdktf-diff.yml (PLAN_KIND=changes: what a
# pull request would change) and drift.yml (PLAN_KIND=drift: `-refresh-only`, how the real infrastructure differs
# from state). Neither holds a secret value or a credential that can write: every sensitive variable of the stack is
# the public placeholder, the write-only Secrets' revisions are derived under a public key, every image digest is the
# all-zero placeholder, and -lock=false (a plan never writes the state bucket, and never blocks a deploy).
#
# Environment: STACK; ENVIRONMENT (the GitHub environment, named in errors); PLAN_KIND (changes | drift); COMMIT
# (named in the report); IMAGE_COMMIT (its sha-<7> is the plan's image_tag); REPORT (where the report goes); the
# cloud read credentials DIGITALOCEAN_TOKEN, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; SECRETS_DIGEST_KEY.
# Writes status=<terraform's exit code> to $GITHUB_OUTPUT (-detailed-exitcode: 0 none, 2 changes or drift, anything
# else failed) and itself succeeds, so that the report is uploaded before the job fails on a failed plan.
set -eo pipefail

stack_dir="cdktf.out/stacks/${STACK}"
placeholders="$(python3 .github/scripts/plan_report.py placeholders --stack-json "${stack_dir}/cdk.tf.json")"
eval "${placeholders}"
export TF_VAR_image_tag="sha-${IMAGE_COMMIT:0:7}"
digests="$(python3 .github/scripts/images.py placeholder-digests)"
export TF_VAR_image_digests="${digests}"
revisions="$(python3 dev.py revisions "${STACK}")"
eval "${revisions}"

mode=()
if [ "${PLAN_KIND}" = "drift" ]; then
  mode=(-refresh-only)
fi
plan="${RUNNER_TEMP}/plan-${STACK}.txt"
status=0
python3 .github/scripts/require_tf_vars.py "${stack_dir}/cdk.tf.json" \
  --environment "${ENVIRONMENT}" --credential DIGITALOCEAN_TOKEN \
  --credential AWS_ACCESS_KEY_ID=SPACES_ACCESS_KEY_ID \
  --credential AWS_SECRET_ACCESS_KEY=SPACES_SECRET_ACCESS_KEY > "${plan}" 2>&1 || status=1
if [ "${status}" -eq 0 ]; then
  terraform -chdir="${stack_dir}" init -input=false -no-color > "${plan}" 2>&1 || status=$?
fi
if [ "${status}" -eq 0 ]; then
  terraform -chdir="${stack_dir}" plan -input=false -lock=false -no-color "${mode[@]}" \
    -detailed-exitcode > "${plan}" 2>&1 || status=$?
fi
cat "${plan}"
python3 .github/scripts/plan_report.py render --kind "${PLAN_KIND}" --stack "${STACK}" --exit-code "${status}" \
  --plan "${plan}" --commit "${COMMIT}" --out "${REPORT}"
echo "status=${status}" >> "${GITHUB_OUTPUT}"

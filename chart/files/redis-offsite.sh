# Copy the backups off the cluster: every backup in the ledger ($BACKUP_DIR/accepted, written by redis-backup.sh) that
# the bucket lacks goes to $OFFSITE (rclone remote path spaces:<bucket>/<prefix>/<namespace>), so a day whose copy
# failed is caught up by the next run. Nothing in the bucket is deleted or overwritten by a name: what the bucket
# keeps is decided by the bucket itself — versioning and lifecycle rules that expire objects by their upload time
# (`python3 dev.py state-bucket` checks and sets them) — so objects someone else planted there cannot push a genuine
# backup out. Names in the bucket that are not backups, or dated in the future, are reported. The copy fails (exit 1,
# one line) when the ledger is malformed, or when after it the bucket lacks the backup just accepted (the ledger's
# last line) or any other accepted backup still on the volume.
# Environment: BACKUP_DIR, OFFSITE, SKEW_SECONDS, and the remote `spaces` itself as RCLONE_CONFIG_SPACES_* variables.
set -eu
ledger="$BACKUP_DIR/accepted"
problem=$(valid_ledger "$ledger" 2>&1) || { echo "offsite copy failed: $problem" >&2; exit 1; }
newest=$(tail -n 1 "$ledger" 2>/dev/null | cut -d ' ' -f 1)
[ -n "$newest" ] || { echo "offsite copy failed: no accepted backup in $BACKUP_DIR (no ledger)" >&2; exit 1; }
# The accepted backups still on the volume, the newest (just accepted) among them.
held=$(cut -d ' ' -f 1 "$ledger" | trusted_names "$ledger" | while IFS= read -r accepted; do
  if [ -f "$BACKUP_DIR/$accepted" ]; then printf '%s\n' "$accepted"; fi
done)
printf '%s\n' "$held" | rclone copy --files-from-raw - "$BACKUP_DIR" "$OFFSITE"
remote=$(rclone lsf --files-only "$OFFSITE" | trusted_names "$OFFSITE")
missing=$(printf '%s\n%s\n' "$newest" "$held" | sort -u | while IFS= read -r accepted; do
  [ -z "$accepted" ] || printf '%s\n' "$remote" | grep -qx "$accepted" || printf '%s ' "$accepted"
done)
[ -z "$missing" ] || {
  echo "offsite copy failed: ${missing% } not in $OFFSITE after the copy" >&2
  exit 1
}
echo "copied to $OFFSITE, $newest and every accepted backup on the volume included; backups there (its lifecycle rules expire them), newest first:"
printf '%s\n' "$remote" | sort -r

# Copy the backups off the cluster: every backup in the ledger ($BACKUP_DIR/accepted, written by redis-backup.sh) that
# the bucket lacks goes to $OFFSITE (rclone remote path spaces:<bucket>/<prefix>/<namespace>), so a day whose copy
# failed is caught up by the next run. Nothing in the bucket is deleted or overwritten by a name: what the bucket
# keeps is decided by the bucket itself — versioning and lifecycle rules that expire objects by their upload time
# (`python3 dev.py state-bucket` checks and sets them) — so objects someone else planted there cannot push a genuine
# backup out. Names in the bucket that are not backups, or dated in the future, are reported.
# Environment: BACKUP_DIR, OFFSITE, SKEW_SECONDS, and the remote `spaces` itself as RCLONE_CONFIG_SPACES_* variables.
set -eu
ledger="$BACKUP_DIR/accepted"
newest=$(tail -n 1 "$ledger" 2>/dev/null | cut -d ' ' -f 1)
[ -n "$newest" ] || { echo "offsite copy failed: no accepted backup in $BACKUP_DIR (no ledger)" >&2; exit 1; }
cut -d ' ' -f 1 "$ledger" | trusted_names "$ledger" | while IFS= read -r accepted; do
  if [ -f "$BACKUP_DIR/$accepted" ]; then printf '%s\n' "$accepted"; fi
done | rclone copy --files-from-raw - "$BACKUP_DIR" "$OFFSITE"
remote=$(rclone lsf --files-only "$OFFSITE" | trusted_names "$OFFSITE")
printf '%s\n' "$remote" | grep -qx "$newest" || {
  echo "offsite copy failed: $newest is not in $OFFSITE after the copy" >&2
  exit 1
}
echo "copied to $OFFSITE, $newest included; backups there (its lifecycle rules expire them), newest first:"
printf '%s\n' "$remote" | sort -r

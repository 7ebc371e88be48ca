# Bring the offsite backups back: copy every backup in $OFFSITE that the backup volume lacks into $BACKUP_DIR, where
# the restore job finds them by name (RESTORE_FROM). Only backup names dated up to now are fetched (others are
# reported); a file already on the volume is never replaced, nothing on the volume is deleted. The list printed at
# the end — every backup on the volume with its key count where this volume's backup job accepted it, and its size
# — is how to choose what to restore (docs/runbooks/rollback.md, "Restore Redis from a backup").
# Environment: BACKUP_DIR, OFFSITE, SKEW_SECONDS, and the remote `spaces` itself as RCLONE_CONFIG_SPACES_* variables.
set -eu
remote=$(rclone lsf --files-only "$OFFSITE" | trusted_names "$OFFSITE")
[ -n "$remote" ] || { echo "no backup in $OFFSITE" >&2; exit 1; }
printf '%s\n' "$remote" | rclone copy --ignore-existing --files-from-raw - "$OFFSITE" "$BACKUP_DIR"
echo "fetched from $OFFSITE; backups on the volume (name, keys if accepted here, bytes), newest first:"
ls -1 "$BACKUP_DIR" | grep -v -x -e accepted -e lost+found | trusted_names "$BACKUP_DIR" | sort -r |
  while IFS= read -r backup; do
    keys=$(awk -v name="$backup" '$1 == name { keys = $2 } END { print keys }' "$BACKUP_DIR/accepted" 2>/dev/null || true)
    echo "$backup ${keys:--} $(($(wc -c < "$BACKUP_DIR/$backup")))"
  done

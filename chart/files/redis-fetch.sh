# Bring one offsite backup back: copy the backup named RESTORE_FROM from $OFFSITE into $BACKUP_DIR, where the restore
# job finds it by the same name. Only that one (the volume holds KEEP backups, not the bucket's 14 days of them), only
# a backup's name dated up to now, and only if the volume lacks it: a file already on the volume is never replaced,
# nothing on the volume is deleted. Refused in one line (exit 2): no RESTORE_FROM (list the bucket with `rclone lsl`,
# docs/runbooks/rollback.md, "Restore Redis from a backup"), a name that is not a backup's, or one the bucket lacks.
# The list printed at the end — every backup on the volume with its key count where this volume's backup job accepted
# it, and its size — and the fetched file's SHA-256 are how to check what to restore.
# Environment: BACKUP_DIR, OFFSITE, RESTORE_FROM, SKEW_SECONDS, and the remote `spaces` itself as
# RCLONE_CONFIG_SPACES_* variables.
set -eu
how="list the bucket with \`rclone lsl $OFFSITE\` (docs/runbooks/rollback.md, \"Restore Redis from a backup\")"
require_backup_name fetch "the one backup to fetch" "$how"
if [ -e "$BACKUP_DIR/$RESTORE_FROM" ]; then
  echo "$RESTORE_FROM is on the volume already: not fetched (a file there is never replaced)"
else
  printf '%s\n' "$RESTORE_FROM" | rclone copy --files-from-raw - "$OFFSITE" "$BACKUP_DIR" || true  # a missing object is refused below
  [ -s "$BACKUP_DIR/$RESTORE_FROM" ] || { echo "fetch refused: no backup $RESTORE_FROM in $OFFSITE; $how" >&2; exit 2; }
  echo "fetched $RESTORE_FROM from $OFFSITE (sha256 $(sha256_of "$BACKUP_DIR/$RESTORE_FROM"))"
fi
echo "backups on the volume (name, keys if accepted here, bytes), newest first:"
ls -1 "$BACKUP_DIR" | grep -v -x -e accepted -e lost+found | trusted_names "$BACKUP_DIR" | sort -r |
  while IFS= read -r backup; do
    keys=$(awk -v name="$backup" '$1 == name { keys = $2 } END { print keys }' "$BACKUP_DIR/accepted" 2>/dev/null || true)
    echo "$backup ${keys:--} $(($(wc -c < "$BACKUP_DIR/$backup")))"
  done

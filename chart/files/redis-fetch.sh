# Bring the offsite backups back: copy every backup in $OFFSITE that the backup volume lacks into $BACKUP_DIR, where
# the restore job finds them (the newest by default, or RESTORE_FROM). Nothing on the volume is deleted.
# Environment: BACKUP_DIR, OFFSITE, and the remote `spaces` itself as RCLONE_CONFIG_SPACES_* variables.
set -eu
remote=$(rclone lsf --files-only --include 'redis-*.rdb' "$OFFSITE")
[ -n "$remote" ] || { echo "no backup in $OFFSITE" >&2; exit 1; }
rclone copy --include 'redis-*.rdb' "$OFFSITE" "$BACKUP_DIR"
echo "fetched from $OFFSITE; backups on the volume, newest first:"
ls -1 "$BACKUP_DIR"/redis-*.rdb | sed 's|.*/||' | sort -r

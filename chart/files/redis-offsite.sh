# Copy the backups off the cluster: every local backup the bucket lacks goes to $OFFSITE (rclone remote path
# spaces:<bucket>/<prefix>/<namespace>), so a day whose copy failed is caught up by the next run; then only the
# newest $KEEP stay there. Backup names are UTC times (redis-<YYYYMMDDTHHMMSSZ>.rdb): name order is time order.
# Environment: BACKUP_DIR, KEEP, OFFSITE, and the remote `spaces` itself as RCLONE_CONFIG_SPACES_* variables.
set -eu
ls "$BACKUP_DIR"/redis-*.rdb >/dev/null 2>&1 || { echo "offsite copy failed: no backup in $BACKUP_DIR" >&2; exit 1; }
rclone copy --include 'redis-*.rdb' "$BACKUP_DIR" "$OFFSITE"
remote=$(rclone lsf --files-only --include 'redis-*.rdb' "$OFFSITE")
printf '%s\n' "$remote" | sort -r | tail -n +$((KEEP + 1)) | while read -r old; do
  rclone deletefile "$OFFSITE/$old"
done
echo "copied to $OFFSITE; kept there, newest first:"
rclone lsf --files-only --include 'redis-*.rdb' "$OFFSITE" | sort -r

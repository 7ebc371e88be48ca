# Back up Redis: a point-in-time RDB snapshot over the replication protocol (`redis-cli --rdb`), written under a
# temporary name and renamed only after redis-cli reports success; then only the newest $KEEP backups are kept.
# Names are UTC times (redis-<YYYYMMDDTHHMMSSZ>.rdb): name order is time order, on the volume and in the bucket.
# Environment: REDIS_HOST, REDIS_PORT, BACKUP_DIR, KEEP, and REDISCLI_AUTH when Redis has a password.
set -eu
[ -n "${REDISCLI_AUTH:-}" ] || unset REDISCLI_AUTH
stamp=$(date -u +%Y%m%dT%H%M%SZ)
partial="$BACKUP_DIR/.redis-$stamp.rdb.partial"
rm -f "$BACKUP_DIR"/.redis-*.rdb.partial
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --rdb "$partial" >/dev/null
[ -s "$partial" ] || { echo "backup failed: redis-cli wrote no data" >&2; exit 1; }
mv "$partial" "$BACKUP_DIR/redis-$stamp.rdb"
ls -1 "$BACKUP_DIR"/redis-*.rdb | sort -r | tail -n +$((KEEP + 1)) | while read -r old; do rm -f -- "$old"; done
echo "backed up redis-$stamp.rdb ($(wc -c < "$BACKUP_DIR/redis-$stamp.rdb") bytes); backups kept, newest first:"
ls -1 "$BACKUP_DIR"/redis-*.rdb | sed 's|.*/||' | sort -r

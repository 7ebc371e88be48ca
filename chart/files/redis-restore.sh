# Restore Redis from the backup named RESTORE_FROM, with Redis stopped. Redis runs with the append-only file on, and on
# start it loads the AOF and ignores a dump.rdb beside it (an empty AOF is created if none exists), so copying the
# backup to dump.rdb would bring Redis back EMPTY. The backup becomes the base of a new AOF instead: the RDB as
# appendonly.aof.1.base.rdb, an empty increment, and the manifest naming both. What /data held is moved aside.
# Refused, with nothing touched: no RESTORE_FROM (there is no default: the newest name is not necessarily the
# newest good backup), a name that is not a backup's or is dated in the future, a missing file, or one that fails
# redis-check-rdb. That Redis is not running on its volume meanwhile is the pod's to guarantee, not this script's
# (templates/redis/backup.yaml: anti-affinity to the Redis pod, and the volume attaches to one node only).
# Environment: DATA_DIR, BACKUP_DIR, RESTORE_FROM (a backup's file name in BACKUP_DIR), SKEW_SECONDS.
set -eu
how="list them with the fetch job's log or the backup job's (docs/runbooks/rollback.md, \"Restore Redis from a backup\")"
[ -n "${RESTORE_FROM:-}" ] || {
  echo "restore refused: RESTORE_FROM is unset: set it to the backup to restore, redis-<YYYYMMDDTHHMMSSZ>.rdb; $how" >&2
  exit 2
}
chosen=$(printf '%s\n' "$RESTORE_FROM" | trusted_names "RESTORE_FROM" 2>&1 >/dev/null || true)
[ -z "$chosen" ] || { echo "restore refused: ${chosen#ignored in }; $how" >&2; exit 2; }
source="$BACKUP_DIR/$RESTORE_FROM"
[ -s "$source" ] || { echo "restore refused: no backup $RESTORE_FROM in $BACKUP_DIR; $how" >&2; exit 2; }
if ! check=$(redis-check-rdb "$source" 2>&1) || ! printf '%s\n' "$check" | grep -q 'RDB looks OK'; then
  printf '%s\n' "$check" | grep -v '^\[offset [0-9]*\] AUX FIELD' >&2 || true
  echo "restore refused: $RESTORE_FROM fails redis-check-rdb (above); choose another backup" >&2
  exit 2
fi
keys=$(printf '%s\n' "$check" | sed -n 's/^\[info\] \([0-9][0-9]*\) keys read$/\1/p')
aside="$DATA_DIR/before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir "$aside"
for item in appendonlydir dump.rdb; do
  if [ -e "$DATA_DIR/$item" ]; then mv "$DATA_DIR/$item" "$aside/"; fi
done
mkdir "$DATA_DIR/appendonlydir"
cp "$source" "$DATA_DIR/appendonlydir/appendonly.aof.1.base.rdb"
: > "$DATA_DIR/appendonlydir/appendonly.aof.1.incr.aof"
printf 'file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n' \
  > "$DATA_DIR/appendonlydir/appendonly.aof.manifest"
echo "restored $RESTORE_FROM ($keys keys, redis-check-rdb OK); the data it replaced is in $aside"

# Restore Redis from a backup, with Redis stopped. Redis runs with the append-only file on, and on start it loads
# the AOF and ignores a dump.rdb beside it (an empty AOF is created if none exists), so copying the backup to
# dump.rdb would bring Redis back EMPTY. The backup becomes the base of a new AOF instead: the RDB as
# appendonly.aof.1.base.rdb, an empty increment, and the manifest naming both. What /data held is moved aside.
# Environment: DATA_DIR, BACKUP_DIR; RESTORE_FROM (a file name in BACKUP_DIR) picks a backup, default the
# newest by name (names are UTC times).
set -eu
if [ -n "${RESTORE_FROM:-}" ]; then
  source="$BACKUP_DIR/$(basename "$RESTORE_FROM")"
else
  source=$(ls -1 "$BACKUP_DIR"/redis-*.rdb 2>/dev/null | sort -r | head -n 1 || true)
fi
[ -n "$source" ] && [ -s "$source" ] || { echo "no backup to restore in $BACKUP_DIR" >&2; exit 1; }
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
echo "restored $(basename "$source"); the data it replaced is in $aside"

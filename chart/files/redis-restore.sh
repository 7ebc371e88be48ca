# Restore Redis from the backup named RESTORE_FROM, with Redis stopped. Redis runs with the append-only file on, and on
# start it loads the AOF and ignores a dump.rdb beside it (an empty AOF is created if none exists), so copying the
# backup to dump.rdb would bring Redis back EMPTY. The backup becomes the base of a new AOF instead: the RDB as
# appendonly.aof.1.base.rdb, an empty increment, and the manifest naming both. What /data held is moved aside.
# Refused, with nothing touched: no RESTORE_FROM (there is no default: the newest name is not necessarily the
# newest good backup), a name that is not a backup's, not a real time or dated in the future, a missing file, a file
# whose SHA-256 is not the one the backup job recorded, or one that fails redis-check-rdb. The SHA-256 expected is the
# ledger's ($BACKUP_DIR/accepted) when it records the name; otherwise (a fresh volume, the backup fetched from the
# bucket — where any holder of the key can overwrite it — or a ledger line written before sums were recorded)
# RESTORE_SHA256 is required, taken from the backup job's log line `backup accepted: <name> (...; sha256 <sum>; ...)`.
# RESTORE_SHA256, when set, must match in either case. That Redis is not running on its volume meanwhile is the pod's to guarantee, not this script's
# (templates/redis/backup.yaml: anti-affinity to the Redis pod, and the volume attaches to one node only).
# Environment: DATA_DIR, BACKUP_DIR, RESTORE_FROM (a backup's file name in BACKUP_DIR), RESTORE_SHA256, SKEW_SECONDS.
set -eu
how="list them with the fetch job's log or the backup job's (docs/runbooks/rollback.md, \"Restore Redis from a backup\")"
require_backup_name restore "the backup to restore" "$how"
source="$BACKUP_DIR/$RESTORE_FROM"
[ -s "$source" ] || { echo "restore refused: no backup $RESTORE_FROM in $BACKUP_DIR; $how" >&2; exit 2; }
problem=$(valid_ledger "$BACKUP_DIR/accepted" 2>&1) || { echo "restore refused: $problem" >&2; exit 2; }
recorded=$(awk -v name="$RESTORE_FROM" '$1 == name { sum = $4 } END { print sum }' "$BACKUP_DIR/accepted" 2>/dev/null || true)
given=$(printf '%s' "${RESTORE_SHA256:-}" | tr 'A-F' 'a-f')
if [ -n "$given" ] && ! printf '%s\n' "$given" | grep -Eqx '[0-9a-f]{64}'; then
  echo "restore refused: RESTORE_SHA256 '$RESTORE_SHA256' is not a SHA-256 (64 hex digits)" >&2
  exit 2
fi
if [ -z "$recorded" ] && [ -z "$given" ]; then
  echo "restore refused: the ledger does not record the SHA-256 of $RESTORE_FROM: set RESTORE_SHA256 to the sum in its backup job's log line 'backup accepted: $RESTORE_FROM (...; sha256 <sum>; ...)' (docs/runbooks/rollback.md, \"Restore Redis from a backup\")" >&2
  exit 2
fi
actual=$(sha256_of "$source")
for expected in $recorded $given; do
  [ "$actual" = "$expected" ] || {
    echo "restore refused: $RESTORE_FROM has SHA-256 $actual, not $expected (recorded by the backup job): it is not the backup the job accepted; choose another backup" >&2
    exit 2
  }
done
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
echo "restored $RESTORE_FROM ($keys keys, redis-check-rdb OK; sha256 $actual); the data it replaced is in $aside"

# Back up Redis: a point-in-time RDB snapshot over the replication protocol (`redis-cli --rdb`), written under a
# temporary name and accepted only if
#   1. redis-check-rdb reads it through (structure and checksum), and
#   2. it holds at least MIN_KEYS_FRACTION of the keys of the previous accepted backup (a sanity floor: after a silent
#      loss of data, near-empty snapshots must not rotate out every good one; 0 turns the floor off).
# A refused snapshot is deleted, nothing older is rotated out, and the script exits 3 (the job fails at once and
# RedisBackupStale sees no success). An accepted one is renamed redis-<UTC time>.rdb and recorded in the ledger
# $BACKUP_DIR/accepted ("<name> <keys> <bytes> <sha256>" a line, oldest first; the ledger is rewritten whole and
# renamed into place, never appended to in place, and a malformed line fails the job, exit 3): retention drops the
# oldest ledger entries beyond KEEP — the order in which this job accepted them, not their names — so a planted or
# fetched file is never counted, and the backup just accepted is never deleted. Files on the volume that are not
# backups are reported. One run at a time: the lock directory $BACKUP_DIR/.lock (its holder's stamp inside) makes a
# second run fail at once (exit 3); a lock older than LOCK_STALE_SECONDS (900, the job's deadline) is taken over.
# Environment: REDIS_HOST, REDIS_PORT, BACKUP_DIR, KEEP, MIN_KEYS_FRACTION, SKEW_SECONDS, and REDISCLI_AUTH when Redis
# has a password.
set -eu
[ -n "${REDISCLI_AUTH:-}" ] || unset REDISCLI_AUTH
ledger="$BACKUP_DIR/accepted"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="redis-$stamp.rdb"
partial="$BACKUP_DIR/.redis-$stamp.rdb.partial"

# The lock: mkdir is atomic, so of two runs at once one creates it and the other fails here.
lock="$BACKUP_DIR/.lock"
now=$(date -u +%s)
if ! mkdir "$lock" 2>/dev/null; then
  held=$(cat "$lock/holder" 2>/dev/null || true)
  since=$(printf '%s\n' "$held" | cut -d ' ' -f 2)
  case $since in '' | *[!0-9]*) since=$now ;; esac
  if [ $((now - since)) -le "${LOCK_STALE_SECONDS:-900}" ] || ! rm -rf "$lock" || ! mkdir "$lock" 2>/dev/null; then
    echo "backup failed: another backup holds $lock (${held:-no holder recorded}); wait for it, or remove $lock if no backup job runs" >&2
    exit 3
  fi
  echo "took over the stale lock $lock (${held:-no holder recorded})" >&2
fi
trap 'rm -rf "$lock"' EXIT
trap 'exit 143' TERM INT
printf '%s %s %s\n' "$stamp" "$now" "${HOSTNAME:-unknown}" > "$lock/holder"

rm -f "$BACKUP_DIR"/.redis-*.rdb.partial "$ledger.new"
problem=$(valid_ledger "$ledger" 2>&1) || { echo "backup failed: $problem" >&2; exit 3; }
# Report what on the volume is neither a backup nor the jobs' own (the ledger, dot-files, the file system's lost+found).
ls -1 "$BACKUP_DIR" | grep -v -x -e accepted -e lost+found | trusted_names "$BACKUP_DIR" >/dev/null

# The previous accepted backup: the ledger's last line.
previous="" previous_keys=0
if [ -s "$ledger" ]; then
  set -- $(tail -n 1 "$ledger")
  previous=${1:-} previous_keys=${2:-0}
  case $previous_keys in '' | *[!0-9]*) previous_keys=0 ;; esac
fi
refuse() {
  rm -f "$partial"
  echo "backup refused: $name $1; nothing rotated out, the newest accepted backup is still ${previous:-none}" >&2
  exit 3
}

[ ! -e "$BACKUP_DIR/$name" ] || { echo "backup failed: $name exists already (two backups in one second)" >&2; exit 1; }
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --rdb "$partial" >/dev/null
[ -s "$partial" ] || { echo "backup failed: redis-cli wrote no data" >&2; exit 1; }
if ! check=$(redis-check-rdb "$partial" 2>&1) || ! printf '%s\n' "$check" | grep -q 'RDB looks OK'; then
  printf '%s\n' "$check" | grep -v '^\[offset [0-9]*\] AUX FIELD' >&2 || true
  refuse "failed redis-check-rdb (above)"
fi
keys=$(printf '%s\n' "$check" | sed -n 's/^\[info\] \([0-9][0-9]*\) keys read$/\1/p')
[ -n "$keys" ] || refuse "has no key count in redis-check-rdb's report"
bytes=$(($(wc -c < "$partial")))
if [ -n "$previous" ] && ! awk -v keys="$keys" -v before="$previous_keys" -v fraction="$MIN_KEYS_FRACTION" \
  'BEGIN { exit !(keys >= fraction * before) }'; then
  refuse "holds $keys keys, fewer than $MIN_KEYS_FRACTION of the $previous_keys in $previous (redis.backup.minKeysFraction)"
fi

sha256=$(sha256_of "$partial")
mv "$partial" "$BACKUP_DIR/$name"
# The ledger with the new entry, renamed into place: a copy cut short leaves the old ledger whole, and a last line
# without its newline (a full disk, earlier) gets one before the entry, instead of the entry being glued onto it.
{
  if [ -s "$ledger" ]; then
    cat "$ledger"
    [ -z "$(tail -c 1 "$ledger")" ] || echo
  fi
  printf '%s %s %s %s\n' "$name" "$keys" "$bytes" "$sha256"
} > "$ledger.new"
mv "$ledger.new" "$ledger"
echo "backup accepted: $name ($keys keys, $bytes bytes; sha256 $sha256; redis-check-rdb OK; previous ${previous:-none}: $previous_keys keys)"

# Retention by the ledger: its newest KEEP entries stay, the files of older ones go.
entries=$(wc -l < "$ledger")
if [ "$entries" -gt "$KEEP" ]; then
  head -n "$((entries - KEEP))" "$ledger" | while read -r old _; do
    if [ "$old" != "$name" ] && printf '%s\n' "$old" | grep -Eq "$backup_name"; then rm -f -- "$BACKUP_DIR/$old"; fi
  done
  tail -n "$KEEP" "$ledger" > "$ledger.new"
  mv "$ledger.new" "$ledger"
fi
echo "backups kept (name, keys, bytes, sha256), newest first:"
sed '1!G;h;$!d' "$ledger"

# Which names are backups (the chart puts this first in each backup script). A backup is redis-<YYYYMMDDTHHMMSSZ>.rdb,
# named by the backup job after the UTC time it took it. Anyone holding the bucket's key can write any name, so a name
# decides nothing on its own: a name that is not exactly that, whose time is not a real UTC time (e.g. 21:99:99), or
# whose time is later than now plus SKEW_SECONDS (the clocks of nodes and of Spaces differ a little), is ignored —
# never fetched, restored or counted — and reported. What a backup holds is decided by its SHA-256, recorded in the
# ledger $BACKUP_DIR/accepted when the backup job accepts it.
backup_name='^redis-[0-9]{8}T[0-9]{6}Z[.]rdb$'
# One ledger line: <name> <keys> <bytes> <sha256> (lines the previous version wrote have no <sha256>).
ledger_entry='^redis-[0-9]{8}T[0-9]{6}Z[.]rdb [0-9]+ [0-9]+( [0-9a-f]{64})?$'

# valid_ledger FILE: succeeds when FILE is absent or every line of it is a ledger entry; else one line on stderr.
valid_ledger() {
  [ -e "$1" ] || return 0
  bad=$(grep -Evn "$ledger_entry" "$1" | head -n 1) || true
  [ -n "$bad" ] || return 0
  echo "the ledger $1 is malformed at line ${bad%%:*} ('${bad#*:}'): each line must be '<name> <keys> <bytes> <sha256>'; repair or remove that line by hand (docs/architecture.md, \"Data protection\")" >&2
  return 1
}

# sha256_of FILE: the file's SHA-256, lowercase hex (coreutils and busybox print '<sum>  <file>').
sha256_of() {
  sha256sum "$1" | cut -d ' ' -f 1
}

# real_time YYYYMMDDTHHMMSSZ: succeeds when it is a real UTC time, i.e. `date` reads it back unchanged (GNU date
# refuses 21:99:99; busybox date normalizes it to another time, which then differs).
real_time() {
  spelled=$(printf '%s\n' "$1" | sed -n 's/^\([0-9]\{4\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)T\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)Z$/\1-\2-\3 \4:\5:\6/p')
  [ -n "$spelled" ] && [ "$(date -u -d "$spelled" +%Y%m%dT%H%M%SZ 2>/dev/null)" = "$1" ]
}

# The latest time a backup's name may carry, as a name carries it (YYYYMMDDTHHMMSSZ).
latest_backup_time() {
  date -u -d "@$(($(date -u +%s) + ${SKEW_SECONDS:-300}))" +%Y%m%dT%H%M%SZ
}

# trusted_names WHERE: the names (one a line) on stdin that are backups, on stdout; one line on stderr for each other.
trusted_names() {
  latest=$(latest_backup_time)
  latest_digits=$(printf '%s' "$latest" | tr -d -c '0-9')
  while IFS= read -r candidate; do
    [ -n "$candidate" ] || continue
    if ! printf '%s\n' "$candidate" | grep -Eq "$backup_name"; then
      echo "ignored in $1: '$candidate' is not a backup name (redis-<YYYYMMDDTHHMMSSZ>.rdb)" >&2
      continue
    fi
    candidate_time=${candidate#redis-}
    if ! real_time "${candidate_time%.rdb}"; then
      echo "ignored in $1: '$candidate' is not a real UTC time: not written by the backup job" >&2
      continue
    fi
    taken=$(printf '%s\n' "$candidate" | tr -d -c '0-9')
    if [ "$taken" -gt "$latest_digits" ]; then
      echo "ignored in $1: '$candidate' is dated in the future (after $latest): not written by the backup job" >&2
      continue
    fi
    printf '%s\n' "$candidate"
  done
}

# require_backup_name VERB WHICH HOW: RESTORE_FROM names a backup (trusted_names), else one line on stderr
# ("<VERB> refused: ...; HOW") and exit 2 — for the fetch and the restore, which act on one backup an operator names.
require_backup_name() {
  [ -n "${RESTORE_FROM:-}" ] || {
    echo "$1 refused: RESTORE_FROM is unset: set it to $2, redis-<YYYYMMDDTHHMMSSZ>.rdb; $3" >&2
    exit 2
  }
  chosen=$(printf '%s\n' "$RESTORE_FROM" | trusted_names "RESTORE_FROM" 2>&1 >/dev/null || true)
  [ -z "$chosen" ] || { echo "$1 refused: ${chosen#ignored in }; $3" >&2; exit 2; }
}

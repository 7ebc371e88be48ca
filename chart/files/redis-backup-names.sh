# Which names are backups (the chart puts this first in each backup script). A backup is redis-<YYYYMMDDTHHMMSSZ>.rdb,
# named by the backup job after the UTC time it took it. Anyone holding the bucket's key can write any name, so a name
# decides nothing on its own: a name that is not exactly that, or whose time is later than now plus SKEW_SECONDS (the
# clocks of nodes and of Spaces differ a little), is ignored — never fetched, restored or counted — and reported.
backup_name='^redis-[0-9]{8}T[0-9]{6}Z[.]rdb$'

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
    taken=$(printf '%s\n' "$candidate" | tr -d -c '0-9')
    if [ "$taken" -gt "$latest_digits" ]; then
      echo "ignored in $1: '$candidate' is dated in the future (after $latest): not written by the backup job" >&2
      continue
    fi
    printf '%s\n' "$candidate"
  done
}

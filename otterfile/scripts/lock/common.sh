# Functions of the lock scripts (included first). The caller sets `lock` (the lock folder)
# and `now` (epoch seconds on this host).
#   field NAME FOLDER   a field of FOLDER/info
#   describe            sets old_run, old_holder, old_since, old_pid, beat and age
#   report [LIMIT]      prints the holder's fields and whether the heartbeat is stale
# shellcheck disable=SC2154  # lock and now come from the script that includes these
field() { sed -n "s/^$1=//p" "$2/info" 2>/dev/null | head -n 1; }
describe() {  # the run id first: a heartbeat read later can only be as new or newer
  old_run=$(field run "$lock") old_holder=$(field holder "$lock")
  old_since=$(field since "$lock") old_pid=$(field pid "$lock")
  beat=$(cat "$lock/heartbeat" 2>/dev/null)
  case "$beat" in ''|*[!0-9]*) beat=$(stat -c %Y "$lock" 2>/dev/null || echo "$now") ;; esac
  age=$((now - beat))
}
report() {
  stale=0; [ "$age" -gt "${1:-30}" ] && stale=1
  printf 'holder=%s\npid=%s\nsince=%s\nrun=%s\nage=%s\nstale=%s\n' \
    "$old_holder" "$old_pid" "$old_since" "$old_run" "$age" "$stale"
}

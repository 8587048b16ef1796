# A rollback inside the rollback window in the lock's round trip (run/back.py), once the lock
# is ours: when the kit window/kit.sh left (BACK/cur) was made for this very state, these
# settings and this release, the window is open and the kept release answers its health
# check here, run the kit through window/switch-back.sh (switch, retire, state, log,
# unlock), then make the kit of the way back the current one. Else exit 10: the state read
# runs and the rollback takes its two-trip way. First line when the kit ran:
# `--- otter:back RELEASE KEPT PORT`, then switch-back.sh's parts.
d=$1       # the deployment's state folder
want=$2    # the release asked for, or "" (the default: the newest previous)
sig=$3     # the Otterfile's settings now (back.py's signature)
who=$4     # the deploy log's `who`, as JSON
when=$5    # its `when`, as JSON
unlock=$6  # shell line: release the deploy lock
body=$7    # window/switch-back.sh
k="$d/back/cur"
no() { exit 10; }
get() { v=$(cat "$k/$1" && echo .) || no; v=${v%.}; }  # v: the file's text, newlines kept
get release; id=$v
if [ -z "$id" ] || [ ! -f "$d/kept/release" ]; then no; fi
read -r kept until < "$d/kept/release" || no
case $until in "" | *[!0-9]*) no ;; esac
if [ "$kept" != "$id" ] || [ "$(date +%s)" -ge "$((until - 2))" ]; then no; fi
if [ -n "$want" ]; then [ "$want" = "$id" ] || no; else get default; [ -n "$v" ] || no; fi
get sig; [ "$v" = "$sig" ] || no
cmp -s "$k/before" "$d/releases.json" || no
get port; port=$v; get path; path=$v; get expect; expect=$v; get timeout; t=$v
# the health check, once: curl, else bash's /dev/tcp; neither here: the controller's gate
if command -v curl >/dev/null 2>&1; then
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$t" -H 'User-Agent: otter' \
    "http://127.0.0.1:$port$path" 2>/dev/null)
elif command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
  # shellcheck disable=SC2016  # bash's own script, its arguments after it
  code=$(timeout "$t" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: otter\r\nConnection: close\r\n\r\n" \
      "$2" "$1" >&3 && read -r _ c _ <&3 && echo "$c"' bash "$port" "$path" 2>/dev/null)
else
  no
fi
case $code in [1-5][0-9][0-9]) ;; *) no ;; esac
if [ -n "$expect" ]; then [ "$code" = "$expect" ] || no; else [ "$code" -lt 500 ] || no; fi
record() {  # record RESULT: the kit's log record, who and when filled in
  get "log-$1"; r=${v%%@otter-when@*}$when${v#*@otter-when@}
  v=${r%%@otter-who@*}$who${r#*@otter-who@}
}
record ok; OTTER_LOG_OK=$v; record retire; OTTER_LOG_RETIRE=$v
record switch; OTTER_LOG_SWITCH=$v; OTTER_LOG_DIR=$d
export OTTER_LOG_OK OTTER_LOG_RETIRE OTTER_LOG_DIR
get keeps; echo "--- otter:back $id $v"
get switch; switch=$v; get retire; retire=$v; get after; after=$v
# shellcheck disable=SC2016  # the log lines read the records from the environment
log='umask 022; printf "%s\n" "$1" >> "$2/deploy.log"'
out=$(sh -c "$body" sh "$switch" "$retire" "$d/releases.json" "$after" \
  "sh -c '$log' sh \"\$OTTER_LOG_OK\" \"\$OTTER_LOG_DIR\"" \
  "sh -c '$log' sh \"\$OTTER_LOG_RETIRE\" \"\$OTTER_LOG_DIR\"" \
  "$unlock" < "$k/site")
printf '%s\n' "$out"
case $out in
  *"--- otter:part retire 0"*)  # the way back is the next rollback's kit
    if ! { mv -- "$d/back/cur" "$d/back/old" && mv -- "$d/back/rev" "$d/back/cur" &&
      mv -- "$d/back/old" "$d/back/rev"; }; then rm -rf -- "$d/back"; fi ;;
  *"--- otter:part retire"*) rm -rf -- "$d/back" ;;
  *)  # the switch failed (the previous config is back): logged, the lock released here
    rm -rf -- "$d/back"
    sh -c "$log" sh "$OTTER_LOG_SWITCH" "$d" || echo "otter: appending to the deploy log failed" >&2
    sh -c "$unlock" </dev/null >/dev/null ;;
esac
exit 0

# A rollback inside the rollback window in the lock's round trip (run/back.py), once the lock
# is ours: when the kit window/kit.sh left (the one BACK/cur names) was made for this very state, these
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
no() { echo "otter: no switch back left ready for this: $1" >&2; exit 10; }
cur=""; read -r cur < "$d/back/cur" 2>/dev/null  # which of a and b is the current kit
case $cur in a) rev=b ;; b) rev=a ;; *) no "none left" ;; esac
k="$d/back/$cur"
# what the kit's vars assign (window/kit.sh; each read without a process)
made="" release="" default="" port="" path="" expect="" timeout="" keeps="" switch=""
retire="" after="" log_ok="" log_switch="" log_retire=""
if [ ! -f "$k/vars" ] || [ ! -f "$d/kept/release" ]; then no "none left"; fi
# shellcheck source=/dev/null  # written by window/kit.sh
. "$k/vars" || no "unreadable"
if [ "$made" != "$sig" ] || [ -z "$release" ]; then no "the Otterfile changed"; fi
read -r kept until < "$d/kept/release" || no "nothing kept"
case $until in "" | *[!0-9]*) no "nothing kept" ;; esac
if [ "$kept" != "$release" ] || [ "$(date +%s)" -ge "$((until - 2))" ]; then
  no "another release kept, or its window ends"
fi
if [ -n "$want" ]; then [ "$want" = "$release" ] || no "another release asked for"
else [ -n "$default" ] || no "not the default release"; fi
cmp -s "$k/before" "$d/releases.json" || no "the state changed since"
t=$timeout
# the health check, once: bash's /dev/tcp (a shell: about 2 ms), else curl (its libraries
# load: about 7 ms); neither here: the controller's gate. A bash without /dev/tcp fails
# fast (exit 1): curl then asks; a timeout (124) is the answer
code="" how=""
if command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
  # shellcheck disable=SC2016  # bash's own script, its arguments after it
  code=$(timeout "$t" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: otter\r\nConnection: close\r\n\r\n" \
      "$2" "$1" >&3 && read -r _ c _ <&3 && echo "${c//[!0-9]/}"' bash "$port" "$path" 2>/dev/null)
  how=$?
fi
case $code in
  [1-5][0-9][0-9]) ;;
  *) if [ "$how" != 124 ] && command -v curl >/dev/null 2>&1; then
       code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$t" -H 'User-Agent: otter' \
         "http://127.0.0.1:$port$path" 2>/dev/null)
     elif [ -z "$how" ]; then
       no "no bash and timeout, nor curl, for the health check here"
     fi ;;
esac
case $code in [1-5][0-9][0-9]) ;; *) no "GET $path: no answer within ${t}s" ;; esac
if [ -n "$expect" ]; then ok=0; [ "$code" = "$expect" ] && ok=1; else ok=0; [ "$code" -lt 500 ] && ok=1; fi
[ "$ok" = 1 ] || no "GET $path answered $code"
record() {  # record TEXT: the kit's log record, who and when filled in
  r=${1%%@otter-when@*}$when${1#*@otter-when@}
  v=${r%%@otter-who@*}$who${r#*@otter-who@}
}
record "$log_ok"; OTTER_LOG_OK=$v; record "$log_retire"; OTTER_LOG_RETIRE=$v
record "$log_switch"; OTTER_LOG_SWITCH=$v; OTTER_LOG_DIR=$d
export OTTER_LOG_OK OTTER_LOG_RETIRE OTTER_LOG_DIR
echo "--- otter:back $release $keeps"
# shellcheck disable=SC2016  # the log lines read the records from the environment
log='umask 022; printf "%s\n" "$1" >> "$2/deploy.log"' append='printf "%s\n" "$OTTER_LOG_'
out=$(sh -c "$body" sh "$switch" "$retire" "$d/releases.json" "$after" \
  "${append}OK\" >> \"\$OTTER_LOG_DIR/deploy.log\"" \
  "${append}RETIRE\" >> \"\$OTTER_LOG_DIR/deploy.log\"" "$unlock" < "$k/site")
printf '%s\n' "$out"
case $out in
  *"--- otter:part retire 0"*)  # the way back is the next rollback's kit
    printf '%s\n' "$rev" > "$d/back/cur" || rm -rf -- "$d/back" ;;
  *"--- otter:part retire"*) rm -rf -- "$d/back" ;;
  *)  # the switch failed (the previous config is back): logged, the lock released here
    rm -rf -- "$d/back"
    sh -c "$log" sh "$OTTER_LOG_SWITCH" "$d" || echo "otter: appending to the deploy log failed" >&2
    sh -c "$unlock" </dev/null >/dev/null ;;
esac
exit 0

"""Builders for the systemd runtime's commands on a target; they never run anything.

A release is a unit `otter-<deployment>@<release>.service` (one unit file per release in
/etc/systemd/system) running the artifact unpacked into
/var/lib/otter/<deployment>/releases/<release>/, as an unprivileged user, on a free port of
127.0.0.1. /var/lib/otter/<deployment>/data survives releases.
"""
from __future__ import annotations

import hashlib
import math
import re
from typing import Sequence

from .. import scripts
from ..command import Command, SecretText, cmd, script
from ..errors import OtterError
from ..values import Instance, InstanceStatus
from ..state import DEFAULT_BASE, check_name, state_dir
from . import container, store
from .ports import LISTENING


def parse_started(stdout: str) -> int | str:
    """The port `start_unit` printed: the same `port=N` line as a container's start."""
    return container.parse_started(stdout)

UNIT_DIR = "/etc/systemd/system"
PORT_RANGE = (20000, 29999)  # where a release's port on the target's 127.0.0.1 is picked
STOP_SECONDS = 10  # how long a release gets to stop before it is killed
JOURNAL_MARK = "--- otter:journal"

_UNIT = re.compile(r"otter-(?P<dep>[^@/]+)@(?P<release>[^@/]+)\.service")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./:=,+@%$-]+")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

# $1 unit name, $2 journal lines.
STATUS_SCRIPT = r"""
systemctl show --property=LoadState,ActiveState,SubState,ExecMainStatus,NRestarts,Result \
  -- "$1" 2>&1
echo "--- otter:journal"
journalctl -u "$1" -n "$2" --no-pager -q -o cat 2>&1
exit 0
"""

# $1 deployment, $2 unit folder. One line per unit file: name, release, digest, state.
LIST_SCRIPT = r"""
for f in "$2"/otter-"$1"@*.service; do
  [ -f "$f" ] || continue
  u=${f##*/}
  rel=$(sed -n 's/^X-Otter-Release=//p' "$f" | head -n 1)
  dig=$(sed -n 's/^X-Otter-Digest=//p' "$f" | head -n 1)
  st=$(systemctl show --property=ActiveState,SubState -- "$u" 2>/dev/null | tr '\n' ' ')
  printf '%s\t%s\t%s\t%s\n' "$u" "$rel" "$dig" "$st"
done
exit 0
"""

POLL_SECONDS = 0.2
# $1 drain seconds, $2 unit, $3 polls (0.2 s apart) after SIGTERM before SIGKILL.
STOP_SCRIPT = r"""
u=$2
[ "$1" = 0 ] || sleep "$1"
gone() {
  case $(systemctl show --property=ActiveState --value -- "$u") in
    inactive|failed) return 0 ;; *) return 1 ;;
  esac
}
wait_gone() {
  i=0; while [ "$i" -lt "$1" ]; do gone && return 0; sleep 0.2; i=$((i + 1)); done; gone
}
systemctl stop --no-block -- "$u" || exit 1
wait_gone "$3" && exit 0
echo "otter: $u did not stop in time: killing it" >&2
systemctl kill --signal=SIGKILL -- "$u"
wait_gone 50 || { echo "otter: $u does not stop" >&2; exit 1; }
"""

# $1 unit folder, then unit name and release folder pairs.
REMOVE_SCRIPT = r"""
d=$1 reload=0; shift
while [ $# -ge 2 ]; do
  u=$1 rel=$2; shift 2
  systemctl disable -q -- "$u" >/dev/null 2>&1
  systemctl stop -- "$u" >/dev/null 2>&1
  if systemctl is-active -q -- "$u"; then echo "otter: $u does not stop" >&2; exit 1; fi
  systemctl reset-failed -- "$u" >/dev/null 2>&1
  if [ -e "$d/$u" ]; then rm -f -- "$d/$u" || exit 1; reload=1; fi
  rm -rf -- "$rel" || exit 1
done
[ "$reload" = 0 ] || systemctl daemon-reload
"""

# Listing, checking (members, size, count) and unpacking an archive: shell functions.
UNPACK = scripts.load("unpack.sh").replace("@CHECK_AWK@", scripts.load("archive-check.awk"))
assert "'" not in scripts.load("archive-check.awk")  # it goes in single quotes

# $1 deployment, $2 base folder, $3 release, $4 stored artifact, $5 unit folder, $6 user,
# $7 make the user (1/0), $8 env file ("" = none), $9 program (the command's first word),
# $10 the name of a single-file artifact, $11-$12 port range, $13 the unit's text (with
# `Environment=PORT=<port>`), $14-$15 most bytes and files an archive unpacks to ("": the
# defaults of scripts/unpack.sh), $16 the store's record to write first ("" = none). Stdin:
# the env file's text.
START_SCRIPT = r"""
set -u
name=$1 dep="$2/$1" rel=$3 art=$4 units=$5 user=$6 mkuser=$7 envf=$8 prog=$9
single=${10} lo=${11} hi=${12} text=${13} limit_bytes=${14} limit_files=${15} rec=${16}
unit="otter-$name@$rel.service" dir="$dep/releases/$rel" stage="$dep/releases/.$rel.otter-tmp"
data="$dep/data" ok=0 installed=0 tmpd=""
fail() { echo "otter: $*" >&2; exit 1; }
cleanup() {
  [ "$ok" = 1 ] && { rm -rf "$tmpd"; return; }
  if [ "$installed" = 1 ]; then
    systemctl disable -q --now -- "$unit" >/dev/null 2>&1
    systemctl reset-failed -- "$unit" >/dev/null 2>&1
    rm -f "$units/$unit"; systemctl daemon-reload
  fi
  rm -rf "$tmpd" "$stage" "$dir"; [ -z "$envf" ] || rm -f "$envf"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
@UNPACK@
if [ -n "$rec" ]; then
  { mkdir -p "${rec%/*}" && : > "$rec"; } || fail "cannot write $rec"
fi
if [ -n "$envf" ]; then
  (umask 077; mkdir -p "$(dirname "$envf")" && cat > "$envf.tmp" && mv -f "$envf.tmp" "$envf") \
    || fail "cannot write $envf"
fi
tmpd=$(mktemp -d) || exit 1
[ -f "$art" ] || fail "the artifact $art is not on this host"
what="the artifact $(printf %.12s "${art##*/}")"
archive_kind "$art"
set_limits "$art" "$limit_bytes" "$limit_files"
check_members "$art"
if [ "$mkuser" = 1 ] && ! id -u "$user" >/dev/null 2>&1; then
  command -v useradd >/dev/null 2>&1 || fail "useradd is not installed: cannot make the user $user"
  useradd --system --no-create-home --home-dir "$data" --shell /usr/sbin/nologin \
    --user-group "$user" || fail "cannot make the user $user"
fi
id -u "$user" >/dev/null 2>&1 || fail "the user $user does not exist on this host"
group=$(id -gn "$user") || exit 1
umask 022
for d in "$dep"/releases/.*.otter-tmp "$dep"/releases/*; do  # left by runs that were killed
  [ -e "$d" ] || continue
  case ${d##*/} in
    .*) rm -rf -- "$d" ;;
    *) [ -e "$units/otter-$name@${d##*/}.service" ] || rm -rf -- "$d" ;;
  esac
done
rm -rf "$stage" "$dir"
mkdir -p "$stage" "$data" || exit 1
chmod go+x "$2" "$dep" "$dep/releases" || exit 1
unpack_into "$art" "$stage" "$single"
odd=$(find "$stage" \( -type b -o -type c -o -type p -o -type s \) -print | head -n 1)
[ -z "$odd" ] || fail "refusing the artifact: ${odd#$stage/} is a device file, fifo or socket"
real=$(cd "$stage" && pwd -P) || exit 1
find "$stage" -type l > "$tmpd/links"
if [ -s "$tmpd/links" ]; then
  tr '\n' '\0' < "$tmpd/links" | xargs -0 realpath -m -- > "$tmpd/real" || exit 1
  out=$(paste "$tmpd/real" "$tmpd/links" | awk -F '\t' -v r="$real" -v s="$stage" \
    '$1 != r && index($1, r "/") != 1 { print substr($2, length(s) + 2); exit 1 }') \
    || fail "refusing the artifact: member $out is a link out of the release folder"
fi
find "$stage" -type f -perm /6000 -exec chmod ug-s {} + || exit 1
chgrp -R "$group" "$stage" && chmod -R g+rX "$stage" && chmod 750 "$stage" || exit 1
chown "$user:" "$data" && chmod 750 "$data" || exit 1
if [ -n "$envf" ]; then
  chmod go+x "$(dirname "$envf")" && chown "$user:" "$envf" && chmod 400 "$envf" || exit 1
fi
onpath() {
  IFS=:; for p in $PATH; do
    [ -n "$p" ] && [ -f "$p/$1" ] && [ -x "$p/$1" ] && { unset IFS; echo "$p/$1"; return 0; }
  done; unset IFS; return 1
}
case $prog in
  /*) exe=$prog
      [ -f "$exe" ] && [ -x "$exe" ] || fail "command $prog: no such executable on this host" ;;
  */*) r=${prog#./} exe="$dir/${prog#./}"
      [ -f "$stage/$r" ] || fail "command $prog: the artifact has no file $r"
      [ -x "$stage/$r" ] || fail "command $prog: $r in the artifact is not executable" ;;
  *) if [ -f "$stage/$prog" ]; then
       [ -x "$stage/$prog" ] || fail "command $prog: $prog in the artifact is not executable"
       exe="$dir/$prog"
     else
       exe=$(onpath "$prog") \
         || fail "command $prog: not found in the release nor on PATH ($PATH)"
     fi ;;
esac
mv "$stage" "$dir" || exit 1
if command -v flock >/dev/null 2>&1; then  # two starts on this host pick ports in turn
  exec 9> "$2/.ports.lock" && flock -w 60 9 || fail "cannot lock $2/.ports.lock"
fi
@LISTENING@
claimed() {  # listening now, or promised to another otter unit not started yet
  listening
  cat "$units"/otter-*.service 2>/dev/null | sed -n 's/^Environment=PORT=//p'
}
taken=" $(claimed | tr '\n' ' ') "
port=$lo
while [ "$port" -le "$hi" ]; do
  case "$taken" in *" $port "*) port=$((port + 1)) ;; *) break ;; esac
done
if [ "$port" -gt "$hi" ]; then echo "otter: no free port on 127.0.0.1 in $lo-$hi" >&2; exit 4; fi
printf '%s\n' "$text" | P=$port E=$exe W=$prog awk '
  $0 == "Environment=PORT=<port>" { $0 = "Environment=PORT=" ENVIRON["P"] }
  ENVIRON["E"] != ENVIRON["W"] && (index($0, "ExecStart=" ENVIRON["W"] " ") == 1 ||
    $0 == "ExecStart=" ENVIRON["W"]) {
    $0 = "ExecStart=" ENVIRON["E"] substr($0, length("ExecStart=" ENVIRON["W"]) + 1) }
  { print }' > "$tmpd/$unit" || exit 1
if command -v systemd-analyze >/dev/null 2>&1; then
  out=$(cd "$tmpd" && systemd-analyze verify "$tmpd/$unit" 2>&1) \
    || fail "the unit $unit does not pass systemd-analyze verify: $out"
fi
t="$units/.$unit.otter-tmp"
mkdir -p "$units" && cp "$tmpd/$unit" "$t" && chmod 644 "$t" && mv -f "$t" "$units/$unit" \
  || fail "cannot write $units/$unit"
installed=1
systemctl daemon-reload || fail "systemctl daemon-reload failed"
systemctl enable -q -- "$unit" || fail "systemctl enable $unit failed"
if ! systemctl start -- "$unit"; then
  journalctl -u "$unit" -n 20 --no-pager -q -o cat >&2
  fail "systemctl start $unit failed"
fi
ok=1
echo "port=$port"
echo "unit=$unit"
""".replace("@UNPACK@", UNPACK).replace("@LISTENING@", LISTENING.strip("\n"))


def unit_name(deployment: str, release: str) -> str:
    """The unit of a release: otter-<deployment>@<release>.service."""
    return f"otter-{check_name(deployment)}@{check_name(release, 'release')}.service"


def release_dir(deployment: str, release: str, base: str = DEFAULT_BASE) -> str:
    """Where a release's artifact is unpacked (its working directory)."""
    return f"{releases_dir(deployment, base)}/{check_name(release, 'release')}"


def releases_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The folder of a deployment's release folders."""
    return f"{state_dir(deployment, base)}/releases"


def data_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The folder a deployment may write to; it survives releases."""
    return f"{state_dir(deployment, base)}/data"


def default_user(deployment: str) -> str:
    """The system user made for a deployment: otter-<deployment> when that is a valid user
    name (lower case, at most 32), else a shortened one with a hash of the name."""
    name = f"otter-{check_name(deployment)}"
    if _USER.fullmatch(name):
        return name
    short = re.sub(r"[^a-z0-9_-]", "-", deployment.lower())[:17]
    return f"otter-{short}-{hashlib.sha256(deployment.encode()).hexdigest()[:8]}"


def split_unit(unit: str) -> tuple[str, str]:
    """(deployment, release) of a unit name otter gives; else OtterError."""
    found = _UNIT.fullmatch(unit)
    if not found:
        raise OtterError(f"{unit!r} is not a unit otter names")
    return check_name(found["dep"]), check_name(found["release"], "release")


def unit_word(word: str) -> str:
    """One word of an ExecStart line as systemd reads it back: `%` and `$` escaped, quoted
    when needed; `{port}` becomes `${PORT}` (systemd fills it in from the environment)."""
    if word == ";":
        return "\\;"
    text, rest = word.replace("%", "%%").replace("$", "$$"), word.replace("{port}", "")
    if not word or (rest and not _SAFE_WORD.fullmatch(rest)):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text.replace("{port}", "${PORT}")


def exec_start(words: Sequence[str], deployment: str, release: str,
               base: str = DEFAULT_BASE) -> str:
    """The ExecStart value: a relative program is in the release folder; a bare name is
    resolved on the target (the release folder first, then PATH)."""
    program = words[0]
    if "/" in program and not program.startswith("/"):
        program = f"{release_dir(deployment, release, base)}/{program.removeprefix('./')}"
    return " ".join([program, *map(unit_word, words[1:])])


def env_text(text: str | SecretText) -> str | SecretText:
    """An env file as systemd's EnvironmentFile= reads it: each value double-quoted, with
    `\\`, `"`, `$` and backquote escaped (systemd unquotes and unescapes values)."""
    def quoted(lines: str) -> str:
        out = []
        for line in lines.splitlines():
            key, _, value = line.partition("=")
            value = re.sub(r'([\\"$`])', r"\\\1", value)
            out.append(f'{key}="{value}"\n')
        return "".join(out)
    if not isinstance(text, SecretText):
        return quoted(text)
    result = SecretText(quoted(text))
    result.masked = quoted(text.masked)
    return result


def single_name(words: Sequence[str]) -> str:
    """Where a single-file artifact goes in its release folder: the path the command runs it
    by. The program when it is relative (`./app`, `bin/app`), else the first argument
    starting with `./` (`python3 ./app.pyz`), else the program's name (`app serve`)."""
    def relative(word: str) -> bool:
        parts = word.removeprefix("./").split("/")
        return bool(_SAFE_WORD.fullmatch(word)) and ".." not in parts and "" not in parts
    program = words[0]
    if "/" in program and not program.startswith("/") and relative(program):
        return program.removeprefix("./")
    for word in words[1:]:
        if word.startswith("./") and relative(word):
            return word.removeprefix("./")
    return program.rsplit("/", 1)[-1]


def start_unit(*, deployment: str, release: str, digest: str, unit_text: str, program: str,
               single: str, user: str, make_user: bool, env: str | SecretText | None = None,
               env_file: str | None = None, base: str = DEFAULT_BASE,
               unit_dir: str = UNIT_DIR, artifacts: str = store.STORE,
               port_range: tuple[int, int] = PORT_RANGE, max_unpacked: int | None = None,
               max_files: int | None = None, record: str = "") -> Command:
    """One round trip: write the `record` file (store.STARTED), unpack the stored artifact
    into the release folder (refusing members that escape it, links out, device files, and
    archives unpacking to more than `max_unpacked` bytes or `max_files` files; None:
    scripts/unpack.sh's defaults), make the user, write the env file from stdin, pick a
    free port of 127.0.0.1, install the unit (verified with systemd-analyze) and start it.
    Prints `port=N` and `unit=NAME`; exit values.EXIT_NO_PORT: no free port."""
    if env is not None and not env_file:
        raise OtterError("start_unit: env given without an env_file path")
    unit = unit_name(deployment, release)
    shown = next((line[10:] for line in unit_text.splitlines()
                  if line.startswith("ExecStart=")), program)
    args = [deployment, base, release, store.path(digest, artifacts), unit_dir, user,
            "1" if make_user else "0", env_file if env is not None else "", program,
            single, str(port_range[0]), str(port_range[1]), unit_text.rstrip("\n"),
            "" if max_unpacked is None else str(max_unpacked),
            "" if max_files is None else str(max_files), record]
    return script(START_SCRIPT, args=args, stdin=None if env is None else env_text(env),
                  file=env_file if env is not None else None,
                  writes=((f"{unit_dir.rstrip('/')}/{unit}", unit_text),),
                  description=f"start {unit} as {user}: {shown}")


def unit_status(unit: str, log_lines: int = 20) -> Command:
    """State, exit code, restarts and last journal lines of a unit, in one round trip."""
    return script(STATUS_SCRIPT, args=[unit, str(log_lines)], description=f"inspect {unit}")


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.split() if "=" in line)


def parse_status(stdout: str) -> InstanceStatus:
    """An InstanceStatus from what `unit_status` printed."""
    head, _, logs = stdout.partition(JOURNAL_MARK + "\n")
    values = _properties(head)
    if values.get("LoadState") in (None, "not-found") or "ActiveState" not in values:
        return InstanceStatus("missing", logs=logs.rstrip("\n"))
    code, restarts = values.get("ExecMainStatus", ""), values.get("NRestarts", "")
    return InstanceStatus(_state(values["ActiveState"], values.get("SubState", "")),
                          int(code) if code.isdigit() else None,
                          int(restarts) if restarts.isdigit() else 0,
                          values.get("Result") == "oom-kill", logs.rstrip("\n"))


def _state(active: str, sub: str) -> str:
    if active in ("active", "reloading"):
        return "running" if sub in ("running", "reload", "") else sub
    if active == "activating":
        return "restarting" if sub == "auto-restart" else "activating"
    return active  # failed, inactive, deactivating


def list_units(deployment: str, unit_dir: str = UNIT_DIR) -> Command:
    """Every unit file of the deployment, running or not (see `parse_units`)."""
    return script(LIST_SCRIPT, args=[check_name(deployment), unit_dir],
                  description=f"list units of {deployment}")


def parse_units(stdout: str) -> list[Instance]:
    """Instances from what `list_units` printed."""
    out = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            name, release, digest, states = (p.strip() for p in parts)
            values = _properties(states)
            active, sub = values.get("ActiveState", "unknown"), values.get("SubState", "")
            out.append(Instance(name, active == "active", release, digest,
                                f"{active} ({sub})" if sub else active))
    return out


def stop_unit(unit: str, *, drain_seconds: float = 0,
              stop_seconds: float = STOP_SECONDS) -> Command:
    """Stop a unit after letting in-flight requests drain for `drain_seconds`; SIGKILL it
    when it has not stopped `stop_seconds` after SIGTERM."""
    split_unit(unit)
    polls = str(max(1, math.ceil(stop_seconds / POLL_SECONDS)))
    what = f"drain {drain_seconds:g}s, stop {unit}" if drain_seconds > 0 else f"stop {unit}"
    return script(STOP_SCRIPT, args=[f"{max(drain_seconds, 0):g}", unit, polls],
                  description=what)


def remove_units(*units: str, base: str = DEFAULT_BASE, unit_dir: str = UNIT_DIR) -> Command:
    """Stop and disable units, remove their unit files and release folders (never the data
    folder); those already gone are no error."""
    args = [unit_dir]
    for unit in units:
        args += [unit, release_dir(*split_unit(unit), base)]
    return script(REMOVE_SCRIPT, args=args, description=f"remove {', '.join(units)}")


def logs(unit: str, *, follow: bool = False, tail: int = 100) -> Command:
    """What the unit's processes wrote to the journal (not systemd's lines about it), as
    `docker logs` shows a container's: `journalctl _SYSTEMD_UNIT=UNIT -n N [-f]`."""
    split_unit(unit)
    return cmd("journalctl", f"_SYSTEMD_UNIT={unit}", "-n", str(tail), "--no-pager", "-q",
               "-o", "cat", *(["-f"] if follow else []), description=f"logs of {unit}")


def prune(digests: Sequence[str], keep: Sequence[str] = ()) -> Command:
    """Remove stored artifacts in `digests` except those in `keep`."""
    kept = {store.hex_of(d) for d in keep}
    return store.prune([d for d in dict.fromkeys(digests) if store.hex_of(d) not in kept])

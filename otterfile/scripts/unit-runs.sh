# A function the scripts that ask whether a systemd unit runs include (loaded before them).
# unit_runs UNIT: exit 0 when systemd runs UNIT (".service" when it names no suffix).
# systemd keeps the symlink /run/systemd/units/invocation:UNIT while a unit is active (or
# starting, reloading, stopping), removed once it is inactive or failed: a test, no process
# (the link names the invocation id, no file: -L, not -e). Where that folder is missing (an
# older systemd, another init), systemctl is asked.
unit_runs() {
  case $1 in *.*) ur_unit=$1 ;; *) ur_unit=$1.service ;; esac
  if [ -d /run/systemd/units ]; then
    [ -L "/run/systemd/units/invocation:$ur_unit" ]
  else
    systemctl is-active --quiet "$1" 2>/dev/null
  fi
}

# Read-only: `installed` when the proxy's binary is on PATH, `running` when its unit runs.
# Runs after unit-runs.sh (its function).
bin=$1   # the proxy's binary
unit=$2  # its systemd unit
if command -v "$bin" >/dev/null 2>&1; then echo installed; fi
if unit_runs "$unit"; then echo running; fi
exit 0

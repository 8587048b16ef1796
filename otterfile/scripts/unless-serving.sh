# A rollback's proxy check (run/recover.py): nothing to do where the proxy runs with the
# deployment's site (a switch back to a release it served), else the whole check (`ss`, the
# rivals). Runs after unit-runs.sh (its function).
site=$1    # the deployment's site file of the proxy
unit=$2    # the proxy's systemd unit
ensure=$3  # shell line: proxy-ensure.sh
if [ -f "$site" ] && unit_runs "$unit"; then exit 0; fi
sh -c "$ensure"

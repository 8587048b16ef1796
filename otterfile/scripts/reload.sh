# A function for the scripts that reload a proxy (their builder puts this file before them):
# `systemctl reload nginx` only signals nginx's master, which loads the new config and starts
# new workers after systemctl has returned, so a caller that says "done" at once can be ahead
# of what nginx serves. reload_wait returns once a worker started after the reload runs (at
# most 5 s). Caddy's reload returns once its new config is loaded: nothing to wait for.
#   reload_wait UNIT    exit status: systemctl reload's
nginx_workers() {
  _m=$(cat /run/nginx.pid 2>/dev/null) && cat "/proc/$_m/task/$_m/children" 2>/dev/null
}
reload_wait() {
  case $1 in nginx | nginx.service) ;; *) systemctl reload "$1"; return ;; esac
  _before=" $(nginx_workers) "
  systemctl reload "$1" || return
  [ "$_before" != "  " ] || return 0  # no master or workers to tell by
  _i=0
  while [ "$_i" -lt 50 ]; do
    for _w in $(nginx_workers); do
      case $_before in *" $_w "*) ;; *) return 0 ;; esac
    done
    sleep 0.1
    _i=$((_i + 1))
  done
  return 0
}

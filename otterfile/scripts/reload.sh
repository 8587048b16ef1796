# A function for the scripts that reload a proxy (their builder puts this file before them):
# `systemctl reload nginx` only signals nginx's master, which loads the new config, starts
# new workers and then asks the old ones to quit, all after systemctl has returned, so a
# caller that says "done" at once can be ahead of what nginx serves. reload_wait returns once
# a worker started after the reload runs and every worker from before it is gone or shutting
# down (it retitles itself just before closing its listening sockets), at most 5 s. Caddy's
# reload returns once its new config is loaded: nothing to wait for.
#   reload_wait UNIT    exit status: systemctl reload's
nginx_workers() {
  _m=$(cat /run/nginx.pid 2>/dev/null) && cat "/proc/$_m/task/$_m/children" 2>/dev/null
}
# whether every worker in $1 (pids) has quit or is shutting down
nginx_old_quiet() {
  for _o in $1; do
    _t=$({ tr '\0' ' ' < "/proc/$_o/cmdline"; } 2>/dev/null) || continue
    case $_t in "" | *"shutting down"*) ;; *) return 1 ;; esac
  done
  return 0
}
reload_wait() {
  case $1 in nginx | nginx.service) ;; *) systemctl reload "$1"; return ;; esac
  _before=" $(nginx_workers) "
  systemctl reload "$1" || return
  [ "$_before" != "  " ] || return 0  # no master or workers to tell by
  _i=0
  _new=
  while [ "$_i" -lt 50 ]; do
    if [ -z "$_new" ]; then
      for _w in $(nginx_workers); do
        case $_before in *" $_w "*) ;; *) _new=1 ;; esac
      done
    fi
    if [ -n "$_new" ] && nginx_old_quiet "$_before"; then return 0; fi
    sleep 0.1
    _i=$((_i + 1))
  done
  return 0
}

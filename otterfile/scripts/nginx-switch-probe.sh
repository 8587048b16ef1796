# How nginx can switch on this host, read-only: "file" when it loads njs (the port file is
# read per request, no reload), else "reload: WHY".
if ! command -v nginx >/dev/null 2>&1; then
  echo "reload: nginx is not installed"
elif nginx -T 2>/dev/null |
     grep -Eq '^[[:space:]]*load_module[[:space:]][^;]*ngx_http_js_module'; then
  echo file
elif [ -f /usr/lib/nginx/modules/ngx_http_js_module.so ]; then
  echo "reload: njs is installed but nginx does not load it (no load_module of" \
       "ngx_http_js_module; Debian: /etc/nginx/modules-enabled/50-mod-http-js.conf)"
else
  echo "reload: njs is not installed (Debian and Ubuntu: libnginx-mod-http-js)"
fi

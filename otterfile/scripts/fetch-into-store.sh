#!/bin/sh
# A target downloads a file into its store, verified (commands/download.py).
# Exit 3: another digest, 4: neither curl nor wget, 5: the download failed, 6: only BusyBox
# wget for a URL with a password. curl reads the URL from a config on stdin, GNU wget with
# -i -; BusyBox wget takes a URL only as an argument, where `ps` shows it: fine for a plain
# URL, refused for one with a password.
store=$1  # the store folder
want=$2  # the file's sha256, hex
secret=$3  # "secret": the URL carries a password
# stdin: the URL, one line
IFS= read -r url || [ -n "$url" ] || { echo "otter: no URL given" >&2; exit 1; }
[ -f "$store/$want" ] && exit 0
if command -v curl >/dev/null 2>&1; then tool=curl
elif command -v wget >/dev/null 2>&1 && wget --version >/dev/null 2>&1; then tool=wget
elif command -v wget >/dev/null 2>&1; then tool=busybox
else echo "otter: neither curl nor wget is installed" >&2; exit 4
fi
if [ "$tool" = busybox ] && [ "$secret" = secret ]; then
  echo "otter: only BusyBox wget, which takes the URL on its command line" >&2; exit 6
fi
umask 022; mkdir -p "$store" || exit 1
t="$store/.$want.otter-tmp.$$"
trap 'rm -f "$t"' EXIT
trap 'exit 143' TERM INT HUP
case $tool in
  curl) printf 'url = "%s"\n' "$url" | curl -fsSL --retry 3 --max-redirs 10 -o "$t" -K - \
          || exit 5 ;;
  wget) printf '%s\n' "$url" | wget -q -O "$t" -i - \
          || { echo "otter: wget failed" >&2; exit 5; } ;;
  *) wget -q -O "$t" "$url" || { echo "otter: wget failed" >&2; exit 5; } ;;
esac
got=$(sha256sum "$t" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "otter: downloaded sha256 $got, expected $want" >&2; exit 3
fi
chmod 644 "$t" && mv -f "$t" "$store/$want"

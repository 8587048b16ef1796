# Export a commit into DEST through a private temporary folder renamed at the end, so a
# reader (or a later run after a crash) never takes a half-written export for a whole one.
# The status file carries git's exit status out of the pipe (POSIX sh has no pipefail).
set -eu
git_dir=$1  # the repository (a bare mirror)
commit=$2   # the commit to export
dest=$3     # the folder it becomes
tmp="$dest.otter-tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
{ git --git-dir "$git_dir" archive --format=tar "$commit" && s=0 || s=$?
  echo "$s" > "$tmp.status"; } | tar -x -C "$tmp" || { rm -rf "$tmp" "$tmp.status"; exit 1; }
status=$(cat "$tmp.status"); rm -f "$tmp.status"
[ "$status" = 0 ] || { rm -rf "$tmp"; exit "$status"; }
rm -rf "$dest" && mv "$tmp" "$dest"

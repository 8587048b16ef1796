# Remove all but the newest exported trees of a repository (never the one in use).
folder=$1   # the repository's exports folder
keep=$2     # how many to keep
current=$3  # the export in use (kept)
cd "$folder" 2>/dev/null || exit 0
# shellcheck disable=SC2012  # the exports are named by commit ids: ls -t sorts them safely
ls -1t | tail -n +"$(( keep + 1 ))" | while read -r old; do
  [ "$old" = "$current" ] || rm -rf -- "$old"
done
exit 0

# Print HEAD, with "-dirty" when the tree under the folder differs from it; nothing when
# the folder is not in a git work tree. otter's own .otter folder does not count.
folder=$1   # the folder (the Otterfile's)
cd "$folder" || exit 1
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 0
head=$(git rev-parse --verify --quiet HEAD) || exit 0
changes=$(git status --porcelain -- . ':(exclude).otter') || exit 1
if [ -n "$changes" ]; then echo "$head-dirty"; else echo "$head"; fi

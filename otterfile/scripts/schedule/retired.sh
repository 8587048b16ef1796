# After a schedule's run (ExecStopPost, as root): the release folders retire left because a
# run was still working in them (a RELEASE.retired mark beside each) go, unless another run
# holds one (a shared flock). Kept on one line: it goes into a unit file.
#   retired.sh RELEASES_FOLDER
for m in "$1"/*.retired; do [ -e "$m" ] || continue; r=${m%.retired}; if [ ! -d "$r" ] || flock -n -x "$r" rm -rf -- "$r"; then rm -f -- "$m"; fi; done

# Everything in a deployment's state folder goes but the lock and the data folder.
folder=$1  # the deployment's state folder
[ -d "$folder" ] || exit 0
cd "$folder" || exit 1
for f in * .[!.]*; do
  case "$f" in lock|data|'*'|'.[!.]*') continue ;; esac
  rm -rf -- "$f" || exit 1
done

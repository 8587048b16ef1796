# Members of an archive, one "TYPE<tab>NAME<tab>LINK TARGET" line each, checked before
# anything is unpacked: prints why the first bad member is refused and exits 1. unpack.sh
# puts it into single quotes: no single quote here.
function refuse(why) { print "refusing the artifact: member " shown " " why; bad = 1; exit 1 }
function clean(p) {
  while (substr(p, 1, 2) == "./") p = substr(p, 3)
  while (p ~ /\/$/) p = substr(p, 1, length(p) - 1)
  return p
}
function dots(p) { return p == ".." || p ~ /^\.\.\// || p ~ /\/\.\.\// || p ~ /\/\.\.$/ }
{
  n = split($0, f, "\t"); shown = (n >= 2) ? f[2] : $0
  if (n != 3) refuse("cannot be read (a tab or a newline in its name)")
  t = f[1]; p = f[2]
  if (t == "c" || t == "b") refuse("is a device file")
  if (t == "p") refuse("is a fifo")
  if (t == "s") refuse("is a socket")
  if (t != "-" && t != "d" && t != "l" && t != "h") refuse("has an unsupported type (" t ")")
  if (substr(p, 1, 1) == "/") refuse("is an absolute path")
  p = clean(p)
  if (dots(p)) refuse("escapes the release folder (..)")
  if (p == "" || p == ".") next
  member[++count] = p
  if (t == "l") {
    link[p] = f[3]; name[p] = f[2]
    if (substr(f[3], 1, 1) == "/") refuse("is a link to an absolute path (" f[3] ")")
  }
  if (t == "h" && (substr(f[3], 1, 1) == "/" || dots(clean(f[3]))))
    refuse("is a hard link out of the release folder (" f[3] ")")
}
END {
  if (bad) exit 1
  for (i = 1; i <= count; i++) {  # nothing is written through a link
    m = split(member[i], part, "/"); q = ""
    for (j = 1; j < m; j++) {
      q = (j > 1) ? q "/" part[j] : part[j]
      if (q in link) { shown = member[i]; refuse("is inside the link " q) }
    }
  }
  for (p in link) {  # each link resolves inside the folder, and not through another link
    shown = name[p]; d = p; sub(/\/?[^\/]*$/, "", d)
    m = split((d == "" ? "" : d "/") link[p], part, "/"); depth = 0
    for (j = 1; j <= m; j++) {
      if (part[j] == "" || part[j] == ".") continue
      if (part[j] == "..") {
        if (depth == 0) refuse("is a link out of the release folder (" link[p] ")")
        depth--; continue
      }
      stack[++depth] = part[j]; q = stack[1]
      for (k = 2; k <= depth; k++) q = q "/" stack[k]
      if (j < m && (q in link)) refuse("is a link through the link " q)
    }
  }
}

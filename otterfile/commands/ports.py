"""Shell pieces that pick a free port on a target's 127.0.0.1 (used by every runtime)."""
from .. import scripts

# The ports something listens on, one a line (ss, or /proc/net/tcp where ss is missing).
LISTENING = scripts.load("listening.sh")

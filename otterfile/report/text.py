"""Words for a person's terminal, shared by the plain and live reporters and the ship stage:
untrusted text made printable, byte counts and sizes."""
from __future__ import annotations

import re

# Terminal escape sequences: CSI (colors, cursor moves, 7- or 8-bit) and OSC (titles, links).
_SEQUENCE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_CONTROL = r"\x00-\x1f\x7f-\x9f"  # C0, DEL and C1


def printable(text: str, keep: str = "\n\t") -> str:
    """`text` (from a target, so untrusted) safe for a terminal: escape sequences dropped,
    other control characters but those in `keep` shown as `\\xNN`."""
    kept = "".join(re.escape(c) for c in keep)
    control = f"[{_CONTROL}]" if not kept else f"(?![{kept}])[{_CONTROL}]"
    return re.sub(control, lambda m: f"\\x{ord(m.group()):02x}",
                  _SEQUENCE.sub("", str(text)))


def bounded(done: int, total: int | None) -> tuple[int, int | None]:
    """A byte count and its total for display: past an estimated total, the total is
    unknown (None) rather than smaller than the count."""
    return done, (total if total and done <= total else None)


def amount(done: int, total: int | None) -> str:
    """`1.2 MB of 1.9 MB`, or `1.2 MB` when the total is unknown or passed."""
    done, total = bounded(done, total)
    return f"{human_size(done)} of {human_size(total)}" if total else human_size(done)


def human_size(count: float) -> str:
    """A byte count for people, in steps of 1024: `512 B`, `21.0 KB`, `1.2 MB`, `3.4 GB`."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)

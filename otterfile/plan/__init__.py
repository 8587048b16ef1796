"""Plan: a validated Project in, a deterministic task graph (and its pictures) out. Offline."""

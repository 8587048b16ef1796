"""Report: runner events turned into what a person or CI reads (plain, live, JSON, status)."""

"""Load and evaluate: run an Otterfile, collect its marked functions, check every field, and
return the validated Project. Pure: no process, no network."""

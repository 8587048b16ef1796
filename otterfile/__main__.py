"""python -m otterfile: the same as the `otter` command."""
from otterfile.cli import main

main()

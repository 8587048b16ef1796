"""python -m otterfile: the same as the `otter` command."""
from .cli import main

main()

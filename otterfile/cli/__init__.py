"""The `otter` command line: one module per group of verbs, registered here explicitly.
Imports stay light: heavy libraries load when a command needs them."""
from __future__ import annotations

import sys

import click

from otterfile.cli.common import OtterGroup
from otterfile.cli.lazy import LazyCommands

# each command's name -> (its module, the name there); imported when the command is asked
# for (cli/lazy.py), so one verb does not pay for the others' imports
COMMANDS = {
    "list": ("otterfile.cli.project", "list_"), "plan": ("otterfile.cli.plan", "plan"),
    "graph": ("otterfile.cli.project", "graph"), "init": ("otterfile.cli.project", "init"),
    "run": ("otterfile.cli.deploy", "run"), "rollback": ("otterfile.cli.deploy", "rollback"),
    "exec": ("otterfile.cli.hosts", "exec_"), "status": ("otterfile.cli.hosts", "status"),
    "logs": ("otterfile.cli.hosts", "logs"), "unlock": ("otterfile.cli.hosts", "unlock"),
    "remove": ("otterfile.cli.remove", "remove"),
    "maintenance": ("otterfile.cli.maintenance", "maintenance"),
    "snapshots": ("otterfile.cli.snapshots", "snapshots"),
    "tunnel": ("otterfile.cli.tunnel", "tunnel"),
}


@click.group(cls=OtterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", "file", default="Otterfile.py", show_default=True,
              help="The Otterfile to read.")
@click.option("--debug", is_flag=True, help="Show tracebacks and every command.")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line (for CI).")
@click.option("--no-persist", is_flag=True,
              help="End SSH connections when otter ends (as OTTER_SSH_PERSIST=0).")
@click.version_option(package_name="otterfile", prog_name="otter")
@click.pass_context
def main(ctx: click.Context, file: str, debug: bool, as_json: bool, no_persist: bool) -> None:
    """otter deploys artifacts to your own servers from a Python Otterfile."""
    if no_persist:  # read where connections are made (executors.control.persist_seconds)
        import os
        os.environ["OTTER_SSH_PERSIST"] = "0"
    ctx.meta["otter.debug"] = debug
    if debug:
        from otterfile.cli.common import trace_commands
        trace_commands()
    elif "otterfile.executors" in sys.modules:  # an earlier --debug in this process
        sys.modules["otterfile.executors"].trace_commands(None)
    ctx.obj = {"file": file, "debug": debug, "json": as_json}


main.commands = LazyCommands(COMMANDS)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

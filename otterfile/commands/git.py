"""Git commands for acquiring sources: a mirror cache, fetches, ref resolution, exports.

Builders only: each returns a Command and runs nothing.
"""
from __future__ import annotations

from otterfile import scripts
from otterfile.command import Command, cmd, script
from otterfile.secrets import Secret

EXPORT_SCRIPT = scripts.load("git/export.sh")  # into a temporary folder, then renamed
WORK_TREE_COMMIT_SCRIPT = scripts.load("git/work-tree-commit.sh")

# Git asks this program for a username and a password (GIT_ASKPASS); it answers from the
# environment, so a token is never in argv, a URL or git's config.
ASKPASS_SCRIPT = scripts.load("git/askpass.sh")
Env = tuple[tuple[str, "str | Secret"], ...]


def auth_env(askpass: str, user: str, password: str | Secret) -> Env:
    """The environment that makes git take its credentials from `askpass`, and keep them
    from every credential helper the host configured (`store` would write the token to a
    file). A remote executor sends the password on stdin (executors/preamble.py)."""
    return (("GIT_ASKPASS", askpass), ("GIT_TERMINAL_PROMPT", "0"),
            ("GIT_CONFIG_COUNT", "1"), ("GIT_CONFIG_KEY_0", "credential.helper"),
            ("GIT_CONFIG_VALUE_0", ""),
            ("OTTER_GIT_USER", user), ("OTTER_GIT_PASSWORD", password))


def clone_mirror(url: str, dest: str, env: Env = ()) -> Command:
    """Clone every ref of `url` into the bare mirror `dest` (done once per repository)."""
    return cmd("git", "clone", "--mirror", "--quiet", "--", url, dest, env=env,
               description=f"clone {url}")


def set_origin(git_dir: str, url: str) -> Command:
    """Point the mirror at `url` (a URL without credentials: older caches kept them)."""
    return cmd("git", "--git-dir", git_dir, "remote", "set-url", "origin", url,
               description="set origin")


def fetch(git_dir: str, env: Env = ()) -> Command:
    """Bring the mirror `git_dir` up to date with its origin, incrementally."""
    return cmd("git", "--git-dir", git_dir, "fetch", "--prune", "--quiet", "origin", env=env,
               description="fetch")


def rev_parse(git_dir: str, ref: str) -> Command:
    """Resolve a branch, tag or full/short commit to a full commit id (exit 1: unknown)."""
    return cmd("git", "--git-dir", git_dir, "rev-parse", "--verify", "--quiet",
               "--end-of-options", f"{ref}^{{commit}}", description=f"resolve {ref}")


def export(git_dir: str, commit: str, dest: str) -> Command:
    """Write the tree of `commit` into `dest` (no .git): a clean build folder."""
    return script(EXPORT_SCRIPT, args=[git_dir, commit, dest],
                  description=f"export {commit[:12]}")


def work_tree_commit(folder: str) -> Command:
    """Print the commit a local folder is at ("-dirty" when changed), or nothing."""
    return script(WORK_TREE_COMMIT_SCRIPT, args=[folder],
                  description=f"git state of {folder}")


def is_dir(path: str) -> Command:
    """Exit 0 when `path` is a folder."""
    return cmd("test", "-d", path, ok_codes=(0, 1), description=f"is {path} there")


def move(source: str, dest: str) -> Command:
    """Rename `source` to `dest` (same file system: atomic)."""
    return cmd("mv", "-T", "--", source, dest, description=f"move into {dest}")


def remove(path: str) -> Command:
    """Remove `path` and everything under it, if it is there."""
    return cmd("rm", "-rf", "--", path, description=f"remove {path}")


PRUNE_SCRIPT = scripts.load("git/prune-exports.sh")


def prune_exports(folder: str, keep: int, current: str) -> Command:
    """Remove all but the `keep` newest exported trees in `folder` (never `current`)."""
    return script(PRUNE_SCRIPT, args=[folder, str(keep), current],
                  description=f"keep the newest {keep} exports")

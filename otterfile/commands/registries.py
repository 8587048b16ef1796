"""Builders for a container engine's registry commands; they never run anything. A target
pulls an image (`pull`, read back with `parse_pulled`); the controller tags and pushes a
built one (`push`, `parse_pushed`). Each logs in first when a password is given: the password
goes on stdin into a config removed afterwards (scripts/container/login.sh), never on a
command line.
"""
from __future__ import annotations

import re
import shlex

from otterfile import scripts
from otterfile.command import Command, script
from otterfile.errors import OtterError
from otterfile.secrets import MASK, Secret
from otterfile.values import Pulled

# Exit statuses of scripts/container/login.sh and pull.sh: the login refused, the pull failed.
EXIT_LOGIN = 5
EXIT_PULL = 6
PULL_SCRIPT = scripts.load("container/login.sh") + scripts.load("container/pull.sh")
PUSH_SCRIPT = scripts.load("container/login.sh") + scripts.load("container/push.sh")


def _login_args(server: str | None, username: str | None,
                password: Secret | None) -> tuple[list[str], Secret | None, str]:
    """(script args, stdin, how the login reads in a plan) of an optional login."""
    if password is None:
        return ["", ""], None, ""
    if not server or not username:
        raise OtterError("a registry login needs a server and a user name")
    shown = f"login {shlex.quote(server)} --username {shlex.quote(username)} " \
            f"--password-stdin <<< {MASK}; "
    return [server, username], password, shown


def pull(engine: str, ref: str, *, pinned: str | None = None, server: str | None = None,
         username: str | None = None, password: Secret | None = None) -> Command:
    """The target pulls `pinned` (NAME@sha256:..., nothing when it has it) or, before the
    run's digest is known, `ref` by its tag; logged in first when a password is given (on
    stdin, into a config removed afterwards). See `parse_pulled`."""
    args, stdin, login = _login_args(server, username, password)
    what = pinned or ref
    return script(PULL_SCRIPT, args=[engine, ref, pinned or "", *args], stdin=stdin,
                  description=f"pull {what}: {_engine_login(engine, login)}{engine} pull "
                  f"{shlex.quote(what)}")


def _engine_login(engine: str, login: str) -> str:
    return f"{engine} {login}" if login else ""


_SHA = re.compile(r"sha256:[0-9a-f]{64}")


def parse_pulled(stdout: str) -> Pulled:
    """A Pulled from the lines `pull` printed; lines that are not its own are ignored."""
    lines = stdout.splitlines()
    if "present" in lines:
        return Pulled(True)
    before, digests, repos, own = [], [], [], None
    for line in lines:
        word, _, rest = line.partition(" ")
        name, at, digest = rest.rpartition("@")
        if word == "before" and at and _SHA.fullmatch(digest):
            before.append((name, digest))
        elif word == "digest" and _SHA.fullmatch(rest):
            digests.append(rest)
        elif word == "repo" and at and _SHA.fullmatch(digest):
            repos.append((name, digest))
        elif word == "own" and _SHA.fullmatch(rest):
            own = rest
    return Pulled(False, tuple(before), tuple(digests), tuple(repos), own)


def push(engine: str, image_id: str, to: str, *, server: str | None = None,
         username: str | None = None, password: Secret | None = None) -> Command:
    """On the controller: tag the built image as `to` (NAME:TAG) and push it, logged in
    first when a password is given (on stdin). Prints `pushed DIGEST` (`parse_pushed`)."""
    args, stdin, login = _login_args(server, username, password)
    return script(PUSH_SCRIPT, args=[engine, image_id, to, *args], stdin=stdin,
                  description=f"push {to}: {_engine_login(engine, login)}{engine} tag "
                  f"{shlex.quote(image_id)} {shlex.quote(to)}; {engine} push {shlex.quote(to)}")


def parse_pushed(stdout: str) -> str | None:
    """The digest the registry stored for the push, or None."""
    found = re.findall(r"^pushed (sha256:[0-9a-f]{64})$", stdout, re.M)
    return found[-1] if found else None

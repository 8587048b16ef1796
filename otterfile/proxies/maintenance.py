"""Maintenance mode: the proxy answers a deployment's domains with 503, `Retry-After` and a
plain page, no release touched.

The flag lives on the target, in the deployment's state folder (`folder`): `message` (what
`status` shows) and one snippet per proxy kind, which each site file pulls in with a glob
(Caddy `import`, nginx `include`) that matches nothing while maintenance is off. So the page
is on or off by a graceful reload alone, and a deploy from any controller keeps it: the
switch renames the port file under it, and `off` then serves the new live release.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

from otterfile.command import Command, script
from otterfile.errors import UsageError
from otterfile.run.state import state_dir
from otterfile.scripts import load

DEFAULT_MESSAGE = "This site is down for maintenance. Please try again soon."
DEFAULT_RETRY = 300
MAX_MESSAGE = 1000
PART = "--- otter:part "
EXIT_NOT_INCLUDED = 6  # the installed site predates maintenance mode: it includes no page
# written as they are in the page; everything else is a numeric character reference, so
# the text means nothing to HTML, to Caddy (`{placeholder}`, `"`) or to nginx (`$var`, `\`)
_PLAIN = frozenset(string.ascii_letters + string.digits + " .,:;!?-_()/@%+=*")


@dataclass(frozen=True)
class Page:
    """What `otter maintenance NAME on` serves: the message and Retry-After's seconds."""

    message: str = DEFAULT_MESSAGE
    retry_after: int = DEFAULT_RETRY


def check_page(message: str | None, retry_after: int) -> Page:
    """A Page from the command line, or a UsageError naming the option."""
    text = DEFAULT_MESSAGE if message is None else message.strip()
    if not text:
        raise UsageError("--message: empty; leave it out for the default page")
    if len(text) > MAX_MESSAGE:
        raise UsageError(f"--message: {len(text)} characters, at most {MAX_MESSAGE}")
    if not 0 < retry_after <= 86400:
        raise UsageError(f"--retry-after: expected 1 to 86400 seconds, got {retry_after}")
    return Page(text, retry_after)


def escape(text: str) -> str:
    """`text` safe in HTML and in a quoted Caddy or nginx string: line breaks as <br>,
    other control characters dropped, anything but plain ASCII as &#N;."""
    out = []
    for char in text.replace("\r\n", "\n"):
        if char == "\n":
            out.append("<br>")
        elif char in _PLAIN:
            out.append(char)
        elif char.isprintable():
            out.append(f"&#{ord(char)};")
    return "".join(out)


def html(page: Page) -> str:
    """The page itself: plain HTML, one line (it stands in a quoted config string)."""
    return ('<!DOCTYPE html><html><head><meta charset=utf-8>'
            "<title>Down for maintenance</title></head><body>"
            f"<h1>Down for maintenance</h1><p>{escape(page.message)}</p></body></html>")


def folder(deployment: str) -> str:
    """Where the flag lives on the target: present while maintenance is on."""
    return f"{state_dir(deployment)}/maintenance"


def include_glob(deployment: str, kind: str) -> str:
    """What a `kind` site pulls in: its snippet while on, nothing while off (a glob that
    matches no file is no error to Caddy or nginx)."""
    return f"{folder(deployment)}/{kind}*"


def command(deployment: str, snippets: dict[str, str] | None, site: str,
            validate: Command, unit: str, message: str = "") -> Command:
    """One round trip under the deploy lock: the flag written (`snippets`: proxy kind ->
    snippet text) or removed (None), the proxy's config checked (`validate`) and `unit`
    gracefully reloaded when it runs; the previous flag back on any failure. Exit 4: the
    config is rejected; 5: the reload failed; EXIT_NOT_INCLUDED: `site` (installed) does not
    include the page."""
    stdin = None
    if snippets is not None:
        stdin = f"{PART}message\n{message}\n" + "".join(
            f"{PART}{kind}\n{text}" for kind, text in snippets.items())
    return script(load("reload.sh") + load("maintenance.sh"),
                  args=[folder(deployment), "on" if snippets is not None else "off", site,
                        validate.shell_line(), unit],
                  stdin=stdin,
                  description=f"maintenance {'on' if snippets is not None else 'off'} "
                              f"for {deployment}")


def parse_message(text: str | None) -> str | None:
    """What the target read printed of the flag: its message, or None (off)."""
    if text is None:
        return None
    return text.strip() or DEFAULT_MESSAGE

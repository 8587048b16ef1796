"""nginx's TLS files: `nginx(tls=(cert, key))` checked (paths beside the Otterfile, or
"host:/path" already on each target), where nginx reads them on the target (shipped ones
under `<nginx_dir>/otter-tls/<deployment>/`), and their text read on the controller to ship,
checked to look like PEM. Errors name the field (`tls/0`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otterfile.load.validate import fail, got
from otterfile.run.state import check_name

HOST_PREFIX = "host:"  # a tls path already on each target, not shipped from the controller


@dataclass(frozen=True)
class TlsPaths:
    """Where nginx reads a site's certificate and key on the target."""

    cert: str
    key: str


def tls_paths(deployment: str, tls: Any, nginx_dir: str) -> TlsPaths | None:
    """Paths on the target: `host:` paths as given, shipped files under otter-tls/ in
    `nginx_dir`."""
    if tls is None:
        return None
    folder = f"{nginx_dir.rstrip('/')}/otter-tls/{check_name(deployment)}"
    cert, key = (p[len(HOST_PREFIX):] if p.startswith(HOST_PREFIX) else f"{folder}/{name}"
                 for p, name in zip(tls, ("cert.pem", "key.pem")))
    return TlsPaths(cert, key)


def check_tls(tls: Any) -> None:
    """`tls` is None or two paths: beside the Otterfile, or "host:/abs/path" (one nginx word)."""
    pair = isinstance(tls, (tuple, list)) and len(tls) == 2 and \
        all(isinstance(path, str) and path.strip() and path.strip() != HOST_PREFIX
            and not any(c in path for c in "\n\r\0;{}\"'") for path in tls)
    if tls is not None and not pair:
        fail("tls", "expected None or (cert path, key path), paths beside the Otterfile or "
             f"\"host:/path\" on the target, {got(tls)}")
    for index, path in enumerate(tls or ()):
        on_host = path.strip()[len(HOST_PREFIX):] if path.strip().startswith(HOST_PREFIX) \
            else None
        # written into the site file as one nginx word: a space would split it there
        if on_host is not None and (not on_host.startswith("/") or
                                    any(c.isspace() or c in "$\\" for c in on_host)):
            fail(f"tls/{index}", f"{path!r}: a \"host:\" path is an absolute path on the "
                 "target without spaces, tabs, '$' or '\\' (nginx reads it as one word)")


def read_tls_files(tls: Any, folder: Path) -> tuple[str, str] | None:
    """The certificate and key text to ship (paths relative to `folder`, the Otterfile's),
    or None when both are `host:` paths. Checked to look like PEM."""
    if tls is None or all(p.startswith(HOST_PREFIX) for p in tls):
        return None
    texts = []
    for index, (path, what) in enumerate(zip(tls, ("CERTIFICATE", "PRIVATE KEY"))):
        if path.startswith(HOST_PREFIX):
            fail(f"tls/{index}", "ship both files or neither: give both as \"host:/path\" "
                 "or both beside the Otterfile")
        file = folder / path
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as error:
            fail(f"tls/{index}", f"cannot read {file}: {getattr(error, 'strerror', error)}")
        if "-----BEGIN " not in text or f"{what}-----" not in text:
            fail(f"tls/{index}", f"{file} is not a PEM {what.lower()}")
        texts.append(text)
    return texts[0], texts[1]

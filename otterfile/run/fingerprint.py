"""What makes two releases the same: `fingerprint` keys a release's artifact, env (secrets
included), runtime and proxy settings with the target's root-only key, and `config_of` is
the one a run gives its release on a target. The start stage and `plan --check` compare it
with the live release's to decide that nothing changes."""
from __future__ import annotations

import hmac
from pathlib import Path
from typing import TYPE_CHECKING

from otterfile.secrets import Secret

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef
    from otterfile.run.engine import Engine, Env
    from otterfile.run.lane import Lane

# the controller keeps each target's key beside the Otterfile (run/noop.py): keep .otter/
# out of version control
KEYS = Path(".otter") / "keys"

def config_of(engine: Engine, lane: Lane, digest: str, key: str) -> str | None:
    """The fingerprint a run gives its release of `digest` on a target with `key` (None: no
    key yet, no release was ever made there)."""
    dep = lane.deployment
    if not key.strip():
        return None
    return fingerprint(dep, digest, engine.env.get(dep.name, dict(dep.runtime.env)), key,
                       lane.proxy.shipped_digest(dep.proxy, engine.project.folder),
                       lane.host.private_address() if dep.fleet else None)


def fingerprint(dep: DeploymentDef, digest: str, env: Env, key: str,
                proxy_files: str | None = None, private: str | None = None) -> str:
    """What makes two releases the same: artifact, env (secrets included), runtime, proxy
    (and the digest of files it ships: a renewed certificate is a change), a fleet's
    private address (its release listens there too); keyed with the
    target's root-only key, so the stored value reveals no secret."""
    values = [digest, sorted((k, v.reveal() if isinstance(v, Secret) else v)
                             for k, v in env.items()),
              dep.runtime.kind.settings(dep.runtime.value), list(dep.domains), repr(dep.proxy)]
    if dep.proxy.switch != "file":  # only then: fingerprints made before it stay the same
        values.append(f"switch={dep.proxy.switch}")
    if proxy_files:
        values.append(proxy_files)
    if dep.fleet:  # only then: the fingerprints of balance="local" stay the same
        values.append(f"balance=fleet private={private}")
    return hmac.new(key.strip().encode(), repr(values).encode(), "sha256").hexdigest()[:16]

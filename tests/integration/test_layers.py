"""Only the missing layers, for real: a ~32 MB image (busybox, 30 MB of random bytes, the
app's pages) goes whole to three targets; the next release changes only the pages, and each
target receives under a tenth of the image, counted on its own network interface."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.deploy import events, on, otter, served, write_app, write_otterfile
from tests.testbed.app import DOCKERFILE
from tests.testbed.hosts import scoped

pytestmark = pytest.mark.integration

TAG = scoped("otter-it-layers:latest")
BIG = 30 * 1024 * 1024


def received(targets) -> list[int]:
    """Bytes each target's eth0 has received so far."""
    counts = []
    for t in targets:
        result = on(t, "cat", "/sys/class/net/eth0/statistics/rx_bytes")
        assert result.ok, result.stderr
        counts.append(int(result.stdout))
    return counts


def image(ref: str) -> tuple[str, int]:
    """Id and size of an image on the controller's engine."""
    out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}} {{.Size}}", ref],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], int(out[1])


def ship_said(stdout: str) -> dict[str, dict]:
    """Per host, the ship stage's last info event (what it sent)."""
    return {e["host"]: e for e in events(stdout)
            if e.get("stage") == "ship" and e.get("event") == "info"
            and str(e.get("message", "")).startswith(("sent ", "artifact "))}


@pytest.mark.parametrize("runtime, kept", [("docker", False), ("podman", False),
                                           ("docker", True)],
                         ids=["docker", "podman", "docker-archive-file"])
def test_a_one_layer_release_moves_only_that_layer(tmp_path, clean_targets, runtime, kept):
    """kept: the build's output is a `docker save` archive file, filtered from the file."""
    app = write_app(tmp_path / "app", "v1")
    (app / "big.bin").write_bytes(os.urandom(BIG))  # new bytes each run: nobody has them
    (app / "Dockerfile").write_text((app / "Dockerfile").read_text().replace(
        "COPY www/", "COPY big.bin /data/big.bin\nCOPY www/"))
    (app / ".dockerignore").write_text("app.tar\n")
    assert DOCKERFILE.count("COPY www/") == 1
    command = f"docker build -q -t {TAG} ." + (f" && docker save {TAG} -o app.tar" if kept
                                               else "")
    write_otterfile(tmp_path, clean_targets, runtime=runtime, command=command,
                    source='path="app", output="app.tar"' if kept else 'path="app"')
    made = []
    try:
        before = received(clean_targets)
        first = otter(tmp_path, "--json", "run", "production")
        assert first.returncode == 0, first.stdout + first.stderr
        moved = [after - b for after, b in zip(received(clean_targets), before)]
        made.append(image(TAG)[0])
        size = image(TAG)[1]
        # clean_targets left no image on any target: the whole image moves to each
        assert size > BIG and all(m >= size for m in moved), (size, moved)
        said = ship_said(first.stdout)
        assert len(said) == 3 and all(e["bytes"] >= size and "layers" not in e
                                      for e in said.values()), said

        (app / "www" / "index.html").write_text("v2\n")  # the top layer only
        before = received(clean_targets)
        second = otter(tmp_path, "--json", "run", "production")
        assert second.returncode == 0, second.stdout + second.stderr
        moved = [after - b for after, b in zip(received(clean_targets), before)]
        made.append(image(TAG)[0])
        assert all(m < size / 10 for m in moved), (size, moved)
        assert [served(t) for t in clean_targets] == ["200 v2"] * 3
        said = ship_said(second.stdout)
        assert len(said) == 3, said
        for e in said.values():
            assert (e["layers_sent"], e["layers"]) == (1, 3) and e["bytes"] < size / 10, e
            assert e["message"].endswith("1 of 3 layers; the target had the rest)"), e
        print(f"\n[{runtime}{', archive file' if kept else ''}] image {size} bytes; v2 "
              f"received per target: {moved}; otter said: {[e['message'] for e in said.values()]}")
    finally:
        if made:
            subprocess.run(["docker", "rmi", "--no-prune", "-f", *made], capture_output=True)

"""`otter plan --check` on the test hosts: before the first deploy the whole image moves and a
first release starts; after it, nothing moves (no-op); after a change of one small layer only
that layer's bytes move and a new release starts beside the live one. Nothing is written on
a target by --check (its /var/lib/otter, the proxy's config, images and containers compared
before and after)."""
from __future__ import annotations

import pytest

from tests.integration.deploy import APP_TAG, events, on, otter, write_app, write_otterfile

pytestmark = pytest.mark.integration

# every file otter or the proxy keeps, with its digest; the images and containers by id
SNAPSHOT = r"""
for d in /var/lib/otter /etc/caddy; do
  [ -d "$d" ] && find "$d" -exec stat -c '%n %s %Y %a' {} + | sort
  [ -d "$d" ] && find "$d" -type f -exec sha256sum {} + | sort
done
echo ---
docker images -a --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' | sort
docker ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.State}}' | sort
"""


def snapshot(target) -> str:
    result = on(target, "sh", "-c", SNAPSHOT)
    assert result.ok, result.stderr
    return result.stdout


def check(project, *args: str) -> tuple[int, list[dict], str]:
    done = otter(project, "--json", "plan", "production", "--check", *args)
    return done.returncode, events(done.stdout), done.stderr


def image_size(project) -> int:
    import docker
    return docker.from_env().api.inspect_image(APP_TAG)["Size"]


def test_check_says_what_moves_and_writes_nothing(tmp_path, two):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, two)
    before = [snapshot(t) for t in two]

    code, found, err = check(tmp_path)
    assert code == 0, (err, found)
    assert [f["host"] for f in found] == [t.host.name for t in two]
    size = image_size(tmp_path)
    for one in found:
        assert one["v"] == 1 and one["event"] == "check" and one["deployment"] == "production"
        assert one["artifact"]["moves"] == "layers"
        # clean_targets left no image on the targets: every layer is missing
        assert one["artifact"]["layers_missing"] == one["artifact"]["layers"] == 2, one
        assert one["artifact"]["bytes"] >= size * 0.9  # the whole image
        assert one["release"] == {"action": "first"}
        assert one["proxy"]["site"] == "new"
    assert [snapshot(t) for t in two] == before, "--check wrote on a target"

    done = otter(tmp_path, "run", "production")
    assert done.returncode == 0, done.stderr

    before = [snapshot(t) for t in two]
    code, found, err = check(tmp_path)
    assert code == 0, (err, found)
    for one in found:
        assert one["artifact"]["moves"] == "none" and one["artifact"]["bytes"] == 0
        assert one["release"]["action"] == "none" and one["release"]["live"]
        assert one["proxy"]["site"] == "unchanged" and "would" not in one["proxy"]
    live = {one["host"]: one["release"]["live"] for one in found}

    write_app(tmp_path / "app", "v2 with a small change")  # only the www layer differs
    code, found, err = check(tmp_path)
    assert code == 0, (err, found)
    for one in found:
        assert one["artifact"]["moves"] == "layers"
        assert one["artifact"]["layers_missing"] == 1 and one["artifact"]["layers"] == 2
        assert 0 < one["artifact"]["bytes"] < size * 0.1
        assert one["release"] == {"action": "new", "live": live[one["host"]]}
        assert one["proxy"]["site"] == "unchanged"  # only its upstream port will move
    assert [snapshot(t) for t in two] == before, "--check wrote on a target"

    text = otter(tmp_path, "plan", "production", "--check")
    assert text.returncode == 0, text.stderr
    assert "bytes to send" in text.stdout and "(1 of 2 layers)" in text.stdout
    assert f"new release beside {live[two[0].host.name]}" in text.stdout
    assert "s3cret-token-value" not in text.stdout + text.stderr  # the secret stays masked


def test_an_unreachable_host_is_an_error_line_and_the_others_are_shown(tmp_path, two):
    from dataclasses import replace
    write_app(tmp_path / "app", "v1")
    gone = replace(two[1], host=replace(two[1].host, port=1))  # nothing listens there
    write_otterfile(tmp_path, [two[0], gone])
    done = otter(tmp_path, "plan", "production", "--check")
    assert done.returncode == 1
    assert two[0].host.name in done.stdout and "first release starts" in done.stdout
    assert "unreachable" in done.stdout
    assert any(line.startswith("error: ") and "127.0.0.1:1" in line
               for line in done.stderr.splitlines()), done.stderr

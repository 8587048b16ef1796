"""The preview rules: the preview_domain pattern (an Otterfile error naming the field), a
label (DNS-safe, lower-case), --ttl, --env, and the preview's own deployment."""
from __future__ import annotations

import pytest

from otterfile.errors import OtterfileError, UsageError
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.load.previews import (check_label, env_overrides, label_of, preview_of,
                                     ttl_seconds)

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=registry("app:1"),
                      runtime=docker(port=8080, env={{"GREETING": "hi", "MODE": "prod"}}),
                      targets=[ssh("root@web-1.example")], domains=["app.example.com"],
                      {extra})
'''


def project(otterfile, extra='preview_domain="{label}.Preview.example.com", previews=2'):
    return evaluate(load(str(otterfile(FILE.format(extra=extra)))))


def test_the_deployment_carries_its_preview_settings(otterfile):
    dep = project(otterfile).deployments["production"]
    assert (dep.preview_domain, dep.previews) == ("{label}.preview.example.com", 2)
    plain = project(otterfile, extra="").deployments["production"]
    assert (plain.preview_domain, plain.previews) == (None, 3)


@pytest.mark.parametrize("extra, said", [
    ('preview_domain="preview.example.com"', "preview_domain: expected a domain with {label}"),
    ('preview_domain="{label}.{label}.example.com"', "with {label} once"),
    ('preview_domain="{label}.exa mple.com"', "invalid domain name"),
    ('preview_domain="{label}.p.example.com", previews=0', "previews: expected an int"),
    ('preview_domain="{label}.p.example.com", strategy="recreate", domains=[]',
     "a strategy=\"recreate\" service binds one port on its hosts"),
])
def test_a_bad_preview_setting_names_the_field(otterfile, extra, said):
    with pytest.raises(OtterfileError) as error:
        project(otterfile, extra=extra.replace(', domains=[]', ''))
    assert said in str(error.value) and "Otterfile.py:" in str(error.value)


@pytest.mark.parametrize("label", ["pr-1", "a", "feature-login-42", "x" * 40])
def test_good_labels(label):
    assert check_label(label) == label


@pytest.mark.parametrize("label", ["PR-1", "-a", "a-", "a--b", "a_b", "a.b", "", "x" * 41,
                                   "ü", "a b"])
def test_bad_labels_are_usage_errors(label):
    with pytest.raises(UsageError, match="lower-case letters, digits and '-'"):
        check_label(label)


def test_label_of_reads_the_folder_name():
    assert label_of("production", "production--pr-1") == "pr-1"
    assert label_of("production", "production") is None
    assert label_of("production", "staging--pr-1") is None


@pytest.mark.parametrize("value, seconds", [("72h", 259200), ("30m", 1800), ("5s", 5),
                                             ("2d", 172800), ("365d", 31536000)])
def test_ttl(value, seconds):
    assert ttl_seconds(value) == seconds


@pytest.mark.parametrize("value", ["72", "0h", "1w", "h", "-1h", "366d", "1.5h"])
def test_bad_ttl(value):
    with pytest.raises(UsageError, match="--ttl"):
        ttl_seconds(value)


def test_env_overrides():
    assert env_overrides(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in ["A", "=1", "1A=2", "A-B=1"]:
        with pytest.raises(UsageError, match="KEY=VALUE"):
            env_overrides([bad])


def test_preview_of_is_its_own_deployment(otterfile):
    dep = project(otterfile).deployments["production"]
    preview = preview_of(dep, "pr-1", {"GREETING": "preview", "EXTRA": "1"})
    assert (preview.name, preview.group, preview.domains) == \
        ("production--pr-1", "production--pr-1", ("pr-1.preview.example.com",))
    assert dict(preview.runtime.env) == {"MODE": "prod", "GREETING": "preview", "EXTRA": "1"}
    assert preview.preview_domain is None and preview.hosts == dep.hosts
    assert preview.artifact == dep.artifact


def test_a_preview_installs_none_of_the_deployments_schedules(otterfile):
    """A preview running production's backup job would be a second copy of it: the
    preview's deployment has no schedules, so no `schedules` task and no units."""
    from otterfile.plan.planner import plan
    from dataclasses import replace
    proj = project(otterfile, extra='preview_domain="{label}.p.example.com", '
                   'schedules=[Schedule("@daily", "backup", name="backup")]')
    dep = proj.deployments["production"]
    assert [s.name for s in dep.schedules] == ["backup"]
    preview = preview_of(dep, "pr-1", {})
    assert preview.schedules == ()
    with_it = replace(proj, deployments={**proj.deployments, preview.name: preview})
    tasks = plan(with_it, [preview.name]).tasks
    assert tasks and not [t for t in tasks if "schedules" in t]
    assert [t for t in plan(with_it, ["production"]).tasks if "schedules" in t]


def test_preview_of_needs_a_preview_domain_and_a_good_label(otterfile):
    with pytest.raises(UsageError, match="has no preview_domain"):
        preview_of(project(otterfile, extra="").deployments["production"], "pr-1", {})
    with pytest.raises(UsageError, match="preview label 'PR'"):
        preview_of(project(otterfile).deployments["production"], "PR", {})


def test_a_preview_has_named_volumes_of_its_own(otterfile):
    """A preview writing production's named volume would write production's data: each
    named volume is renamed NAME--LABEL_VOLUME; bind mounts and anonymous volumes stay."""
    file = FILE.replace('env={{"GREETING": "hi", "MODE": "prod"}}',
                        'volumes=["data:/data", "cache:/c:ro", "/srv/up:/up", "/tmp"]')
    dep = evaluate(load(str(otterfile(file.format(
        extra='preview_domain="{label}.p.example.com"'))))).deployments["production"]
    preview = preview_of(dep, "pr-1", {})
    assert preview.runtime.value.volumes == [
        "production--pr-1_data:/data", "production--pr-1_cache:/c:ro", "/srv/up:/up", "/tmp"]
    assert dep.runtime.value.volumes[0] == "data:/data"  # production's own is untouched
    drop = preview.runtime.kind.drop_data(preview.runtime.value, preview.name)
    assert drop is not None
    assert list(drop.argv[-3:]) == ["docker", "production--pr-1_data", "production--pr-1_cache"]


def test_a_systemd_preview_keeps_its_data_folder_and_drops_it(otterfile):
    file = FILE.replace('runtime=docker(port=8080, env={{"GREETING": "hi", "MODE": "prod"}})',
                        'runtime=systemd(command="./app {{port}}", port=8080)').replace(
                            'registry("app:1")', 'fetch("https://example.com/app.tgz", '
                            'sha256="' + "a" * 64 + '")')
    dep = evaluate(load(str(otterfile(file.format(
        extra='preview_domain="{label}.p.example.com"'))))).deployments["production"]
    preview = preview_of(dep, "pr-1", {})
    assert preview.runtime.value == dep.runtime.value  # its data folder is by name already
    drop = preview.runtime.kind.drop_data(preview.runtime.value, preview.name)
    assert drop is not None and drop.argv[-1] == "/var/lib/otter/production--pr-1/data"

"""gitlab, argocd and gitops_demo run end to end on the test bed's LXC hosts, twice.

GitLab omnibus, Argo CD and K3s cannot be downloaded here, so each has a test double put where
the real thing would be, through the roles' own offline paths:
  - K3s: tests/fakes/k3s-fake; its kubectl records what is applied, and small stand-ins of
    Argo CD's controllers and of Traefik answer what the roles wait for (see its header);
  - GitLab: a package named gitlab-ce built here from tests/fakes/gitlab-fake: the few API
    endpoints the roles call (with GitLab's parameter types), and gitlab-rails/gitlab-ctl that
    run as omnibus's do (the runner as user git, running the role's Ruby script for real);
  - Argo CD: a stand-in install manifest with the objects the role waits for.
The roles, apt, dpkg, systemd, users and file modes, HTTP between the machines and Ansible are
real; no claim that GitLab, Argo CD or K3s work rests on these tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from labctl.spec.model import DEFAULT_GITLAB_VERSION
from tests.integration.test_ansible_roles import (
    WIPE_K3S,
    assert_no_secret_anywhere,
    changed_total,
    make_lab,
    run_site,
    ssh,
)

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = [pytest.mark.integration, pytest.mark.root]

GITLAB_FAKE = Path(__file__).resolve().parents[1] / "fakes" / "gitlab-fake"
ALL_TAGS = "prepare,k3s_server,k3s_agent,kubeconfig,argocd,gitlab,gitops"
# No swap file in a container: swapon there would add swap to the test machine itself.
NO_SWAP = {"gitlab_swap_size_mb": 0}
WIPE_GITLAB = (
    "systemctl disable --now gitlab-fake-api 2>/dev/null; dpkg --purge gitlab-ce >/dev/null 2>&1; "
    "rm -rf /etc/gitlab /var/opt/gitlab-fake /var/opt/gitlab /var/lib/labctl; true"
)
STORE = "/var/opt/gitlab-fake/store.json"
OBJECTS = "/var/lib/rancher/k3s/server/fake-objects.json"

ARGOCD_DEPLOYMENTS = (
    "argocd-server",
    "argocd-repo-server",
    "argocd-redis",
    "argocd-applicationset-controller",
    "argocd-notifications-controller",
    "argocd-dex-server",
)
# The objects of Argo CD's install.yaml that the argocd role and the gitops_demo role rely on,
# without namespaces (the role applies the manifest with -n), as upstream's manifest has them.
ARGOCD_MANIFEST = "\n---\n".join([
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
    "  name: applications.argoproj.io\nspec:\n  group: argoproj.io\n  names:\n"
    "    kind: Application\n    plural: applications\n  scope: Namespaced\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cmd-params-cm\n",
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: argocd-server\nspec:\n  ports:\n"
    "    - name: http\n      port: 80\n",
    *(
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n"
        for name in ARGOCD_DEPLOYMENTS
    ),
    "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: argocd-application-controller\n"
    "spec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n"
    "        - name: argocd-application-controller\n"
    "          image: quay.io/argoproj/argocd:v2.14.11\n"
    "          imagePullPolicy: Always\n",
])  # fmt: skip


def build_gitlab_fake_deb(target: Path, version: str) -> Path:
    """gitlab-ce_<version>_amd64.deb holding tests/fakes/gitlab-fake, for the offline path."""
    stage = target.parent / "gitlab-fake-deb"
    for folder in ("DEBIAN", "opt/gitlab-fake", "usr/bin", "lib/systemd/system"):
        (stage / folder).mkdir(parents=True, exist_ok=True)
    (stage / "DEBIAN" / "control").write_text(
        f"Package: gitlab-ce\nVersion: {version}\nArchitecture: amd64\n"
        "Maintainer: labctl tests <tests@labctl.invalid>\nDepends: python3, ruby, util-linux\n"
        "Description: gitlab-fake, a TEST DOUBLE standing in for GitLab CE in labctl's tests\n"
        " Not GitLab: a few API endpoints and the gitlab-rails and gitlab-ctl wrappers.\n"
    )
    for source, dest, mode in (
        ("postinst", "DEBIAN/postinst", 0o755),
        ("api.py", "opt/gitlab-fake/api.py", 0o755),
        ("rails_env.rb", "opt/gitlab-fake/rails_env.rb", 0o644),
        ("gitlab-rails", "usr/bin/gitlab-rails", 0o755),
        ("gitlab-ctl", "usr/bin/gitlab-ctl", 0o755),
        ("gitlab-fake-api.service", "lib/systemd/system/gitlab-fake-api.service", 0o644),
    ):
        shutil.copyfile(GITLAB_FAKE / source, stage / dest)
        (stage / dest).chmod(mode)
    deb = target / f"gitlab-ce_{version}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(stage), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def read_json(host: Any, path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ssh(host, f"cat {path}"))
    return loaded


def test_gitlab_argocd_and_the_gitops_demo_end_to_end_twice(
    lxc_host_factory: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    hosts = lxc_host_factory(3)
    for host in hosts:  # the pool is shared with the other role tests
        ssh(host, WIPE_K3S)
        ssh(host, WIPE_GITLAB)
    lab = make_lab(
        tmp_path,
        "gx",
        hosts,
        servers=1,
        agents=1,
        disable="[]",
        addons="addons: {argocd: {enabled: true}, gitlab: {enabled: true, memory: 4096}}",
    )
    server, gitlab = lab.hosts["gx-server-1"], lab.hosts["gx-gitlab"]
    build_gitlab_fake_deb(lab.offline, DEFAULT_GITLAB_VERSION)
    (lab.offline / "argocd-install.yaml").write_text(ARGOCD_MANIFEST)

    first = run_site(lab, ALL_TAGS, NO_SWAP)
    assert changed_total(first), "the first run must change the fresh hosts"

    # GitLab: installed from the package, root seeded, the token made by the Ruby script as git.
    secrets = lab.directory / "secrets"
    token = (secrets / "gitlab-api-token").read_text().strip()
    store = read_json(gitlab, STORE)
    active = [t for t in store["tokens"] if not t["revoked"]]
    assert [t["name"] for t in active] == ["labctl"]
    assert ssh(gitlab, "ls /etc/gitlab").split() == ["gitlab.rb"], "token files left behind"
    assert ssh(gitlab, "dpkg-query -W -f='${Status}' gitlab-ce") == "hold ok installed"
    project = store["projects"]["root/demo"]
    assert project["visibility"] == "public"
    assert sorted(project["files"]) == [
        f"app/{n}.yaml" for n in ("deployment", "ingress", "service")
    ]

    # Argo CD and the demo app, as k3s-fake's API recorded them.
    objects = read_json(server, OBJECTS)["objects"]
    app = objects["Application/argocd/demo"]
    assert app["spec"]["source"] == {
        "repoURL": f"http://{gitlab.ip}/root/demo.git",
        "targetRevision": "main",
        "path": "app",
    }
    assert app["status"]["sync"]["status"] == "Synced"
    assert objects["Deployment/demo/demo"]["spec"]["replicas"] == 3, "not synced from GitLab"
    assert objects["ConfigMap/argocd/argocd-cmd-params-cm"]["data"] == {"server.insecure": "true"}
    assert objects["Ingress/argocd/argocd-server"]["spec"]["rules"][0]["host"] == "argocd.gx.lab"
    assert "Secret/argocd/argocd-initial-admin-secret" not in objects, "kept after saving it"
    # Offline, the images K3s imported from the bundle are used, not pulled again (issue 18).
    controller = objects["StatefulSet/argocd/argocd-application-controller"]
    [container] = controller["spec"]["template"]["spec"]["containers"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert (secrets / "argocd-admin-password").stat().st_mode & 0o777 == 0o600
    assert (secrets / "argocd-admin-password").read_text().strip()

    second = run_site(lab, ALL_TAGS, NO_SWAP)
    assert changed_total(second) == {}, "second run of site.yml must change nothing"
    assert (secrets / "gitlab-api-token").read_text().strip() == token

    # A year later the token has expired: GitLab answers 401, and the role must replace it.
    ssh(
        gitlab,
        "python3 -c 'import json; p=\"" + STORE + '"; d=json.load(open(p)); '
        '[t.update(expires_at="2020-01-01") for t in d["tokens"]]; '
        'json.dump(d, open(p, "w"))\'',
    )
    run_site(lab, "gitlab,gitops", NO_SWAP)
    renewed = (secrets / "gitlab-api-token").read_text().strip()
    assert renewed != token
    store = read_json(gitlab, STORE)
    assert [t["revoked"] for t in store["tokens"]] == [True, False]
    assert ssh(gitlab, "ls /etc/gitlab").split() == ["gitlab.rb"], "token files left behind"
    assert_no_secret_anywhere(lab)

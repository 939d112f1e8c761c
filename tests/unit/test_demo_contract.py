"""The demo app the gitops_demo role deploys is the one the smoke checks look for.

labctl/checks/demo.py states the contract; this reads the role (defaults, vars, templates) and
site.yml and fails when either side moves alone, as the Ingress host once did.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from labctl.checks import demo

ROLE = Path(__file__).parents[2] / "playbooks" / "roles" / "gitops_demo"
SITE = Path(__file__).parents[2] / "playbooks" / "site.yml"


def role_vars() -> dict[str, object]:
    values = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values |= yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    plays = yaml.safe_load(SITE.read_text())
    play = next(p for p in plays if "gitops" in p["roles"][0].get("tags", []))
    site_vars = play["roles"][0]["vars"]
    values["gitops_demo_host"] = site_vars["gitops_demo_host"].replace(
        "{{ labctl_lab_name }}", "demo"
    )
    return values


def render(template: str, values: dict[str, object]) -> dict[str, object]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"), autoescape=False)  # noqa: S701 - YAML
    text = env.get_template(template).render(**values, ansible_managed="managed")
    document: dict[str, object] = yaml.safe_load(text)
    return document


def test_names_and_replicas_match() -> None:
    values = role_vars()
    assert values["gitops_demo_namespace"] == demo.DEMO_NAMESPACE
    assert values["gitops_demo_name"] == demo.DEMO_DEPLOYMENT == demo.DEMO_SERVICE
    assert values["gitops_demo_replicas"] == demo.DEMO_REPLICAS
    assert f"root/{values['gitops_demo_project']}" == demo.GITLAB_PROJECT
    assert values["gitops_demo_project"] == demo.ARGOCD_APPLICATION
    assert demo.GITLAB_MANIFEST in [f["path"] for f in values["gitops_demo_files"]]  # type: ignore[attr-defined]


def test_the_checks_selector_selects_the_deployments_pods() -> None:
    deployment = render("deployment.yaml.j2", role_vars())
    key, _, value = demo.DEMO_SELECTOR.partition("=")
    labels = deployment["spec"]["template"]["metadata"]["labels"]  # type: ignore[index]
    assert labels[key] == value


def test_the_ingress_routes_the_checks_host_at_the_root_path() -> None:
    ingress = render("ingress.yaml.j2", role_vars())
    (rule,) = ingress["spec"]["rules"]  # type: ignore[index]
    assert rule["host"] == demo.demo_host("demo")
    assert rule["http"]["paths"][0]["path"] == "/"  # whoami answers /api only at that path


def test_argocd_syncs_the_folder_the_manifest_lives_in() -> None:
    application = render("application.yaml.j2", role_vars() | {"gitops_demo_repo_url": "x"})
    assert application["metadata"]["name"] == demo.ARGOCD_APPLICATION  # type: ignore[index]
    folder = application["spec"]["source"]["path"]  # type: ignore[index]
    assert demo.GITLAB_MANIFEST.startswith(f"{folder}/")

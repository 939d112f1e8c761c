"""The contract between the checks and what the playbooks deploy (the gitops_demo role).

The checks look for exactly these names; change them here and in playbooks/ together
(tests/unit/test_demo_contract.py compares the two).
The demo app is traefik/whoami (or anything that answers GET /api with JSON carrying the pod's
"hostname"), which is how service-balancing and ingress tell pods apart without grepping.
"""

from __future__ import annotations

DEMO_NAMESPACE = "demo"
DEMO_DEPLOYMENT = "demo"
DEMO_SERVICE = "demo"
DEMO_SELECTOR = "app.kubernetes.io/name=demo"
DEMO_REPLICAS = 3
DEMO_API_PATH = "/api"

ARGOCD_NAMESPACE = "argocd"
ARGOCD_APPLICATION = "demo"
# GitLab project (namespace/path) and branch Argo CD syncs the demo from, and the manifest
# whose `replicas:` the gitops check changes and changes back.
GITLAB_PROJECT = "root/demo"
GITLAB_BRANCH = "main"
GITLAB_MANIFEST = "app/deployment.yaml"  # Argo CD syncs the app/ folder

# Small, multi-arch, with sh, nslookup and wget: the throw-away probe pods' image. K3s ships this
# very image in its airgap image list (local-path-provisioner's helper), so every node already
# has it: no Docker Hub pull (anonymous rate limits on fleets) and offline (bundle) labs work.
PROBE_IMAGE = "rancher/mirrored-library-busybox:1.36.1"
PROBE_POD_PREFIX = "labctl-probe"


def demo_host(lab: str) -> str:
    """Host name of the demo app's Ingress (Traefik routes on it)."""
    return f"demo.{lab}.lab"


def argocd_host(lab: str) -> str:
    """Host name of Argo CD's Ingress; matches labctl_argocd_host in the rendered group vars."""
    return f"argocd.{lab}.lab"

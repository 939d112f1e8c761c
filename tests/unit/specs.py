"""Lab specs the unit tests share: the three shapes the golden files cover, per provider."""

from __future__ import annotations

SHAPES: dict[str, str] = {
    "default": "name: demo\n",
    "ha": "name: ha\nservers: {count: 3}\nagents: {count: 2, memory: 1GiB}\n",
    "full": (
        "name: full\n"
        "addons:\n"
        "  argocd: {enabled: true}\n"
        "  gitlab: {enabled: true, memory: 6GiB}\n"
        "k3s:\n"
        "  disable: [servicelb]\n"
        "  server_args: ['--kube-apiserver-arg=audit-log-maxage=7']\n"
        "box_version: '>= 202502.21.0'\n"
    ),
}
PROVIDERS = ("virtualbox", "libvirt", "lxc")


def spec_text(shape: str, provider: str) -> str:
    return SHAPES[shape] + f"provider: {provider}\n"

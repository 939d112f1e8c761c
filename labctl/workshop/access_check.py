"""`labctl fleet access check`: every lab reached as its handout says, and nothing else.

For each lab of the fleet, with that lab's attendee key, through the gateway: a login on each
machine, the API server's port, no command on the gateway; and every other lab's addresses, and
ports of its own machines outside the permitted list, refused by sshd.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from labctl.errors import StateError

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.lab.access import AccessRecord
    from labctl.tools.gateway_probe import ProbeResult

# Ports of a lab's own machines the key must not open: the kubelet, HTTP through the ingress,
# and etcd's client port on servers.
OWN_PORTS_REFUSED = (10250, 80, 2379)


def _ca_pem(kubeconfig: str | None) -> str | None:
    import yaml  # noqa: PLC0415

    try:
        doc = yaml.safe_load(kubeconfig or "")
        data = doc["clusters"][0]["cluster"]["certificate-authority-data"]
        return base64.b64decode(data).decode()
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError):
        return None


def _load(spec: Path) -> tuple[AccessRecord, str, str | None]:
    from labctl.lab.access import KEY_FILE  # noqa: PLC0415
    from labctl.lab.attendees import read_record  # noqa: PLC0415
    from labctl.lab.kubeconfig import lab_kubeconfig_path  # noqa: PLC0415
    from labctl.lab.labdir import lab_dir_for  # noqa: PLC0415
    from labctl.registry import plan_lab  # noqa: PLC0415
    from labctl.spec.loader import load_lab  # noqa: PLC0415

    plan = plan_lab(load_lab(spec).lab)
    lab_dir = lab_dir_for(spec, plan.name)
    record = read_record(lab_dir)
    if record is None or not (lab_dir / KEY_FILE).exists():
        raise StateError(
            f"lab {plan.name} has no attendee access yet ({lab_dir}/access.json)",
            "run `labctl fleet up --gateway HOST[:PORT]` (its access phase sets it up)",
        )
    kubeconfig = lab_kubeconfig_path(lab_dir)
    private = (lab_dir / KEY_FILE).read_text(encoding="ascii")
    return record, private, kubeconfig.read_text() if kubeconfig.exists() else None


def check_fleet(specs: list[Path]) -> list[ProbeResult]:
    from labctl.tools.gateway_probe import Gateway, probe  # noqa: PLC0415

    labs = [_load(spec) for spec in specs]
    results: list[ProbeResult] = []
    for record, private, kubeconfig in labs:
        pinned: dict[str, list[tuple[str, str]]] = {}
        for line in record.known_hosts:
            alias, kind, blob = line.split()[:3]
            pinned.setdefault(alias, []).append((kind, blob))
        machines = [(what.removeprefix("ssh "), host, record.machine_user,
                     pinned.get(what.removeprefix("ssh "), []))
                    for host, port, what in record.reach if what.startswith("ssh ")]  # fmt: skip
        forbidden = [(host, port, f"lab {other.lab}")
                     for other, _, _ in labs if other.lab != record.lab
                     for host, port, _ in other.reach]  # fmt: skip
        own = sorted({host for host, _, _ in record.reach})
        forbidden += [(host, port, "own port") for host in own for port in OWN_PORTS_REFUSED]
        gateway = Gateway(record.gateway_host, record.gateway_port, record.account,
                          tuple(pinned.get(record.gateway_alias, [])))  # fmt: skip
        results += probe(record.lab, gateway, private, machines, record.api, forbidden,
                         _ca_pem(kubeconfig))  # fmt: skip
    return results

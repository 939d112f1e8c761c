"""The `access` phase and its undoing: a lab's attendee key, accepted by its machines and by
this host's sshd as the gateway, and the record the handout and `fleet access check` read."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from labctl.lab.access import (
    ACCESS_FILE,
    AccessRecord,
    GatewayPaths,
    key_comment,
    keys_line,
    permitted,
    record_for,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labctl.lab.workflow import Runtime
    from labctl.plan import Phase, Plan


def open_access(rt: Runtime, phase: Phase) -> None:
    """The phase: key pair, machines, gateway, then access.json (last: it says all is in place)."""
    from labctl.errors import ProvisionError  # noqa: PLC0415
    from labctl.lab.gateway import attendee_key, gateway_host_keys, open_gateway  # noqa: PLC0415
    from labctl.lab.keys import authorize_command  # noqa: PLC0415
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415
    from labctl.lab.targets import load_targets  # noqa: PLC0415
    from labctl.tools.hostkeys import pinned_keys  # noqa: PLC0415
    from labctl.tools.ssh import SshPool  # noqa: PLC0415

    plan, access = rt.plan, rt.plan.lab.access
    if access is None:  # the plan has this phase only with an access section
        return
    _, public = attendee_key(rt.lab_dir)
    comment = key_comment(plan.name, str(rt.lab_dir))
    targets = load_targets(rt.lab_dir)
    known: list[str] = []
    with SshPool(rt.known_hosts) as pool:
        for machine in plan.machines:
            result = pool.run(targets[machine.name], authorize_command(public, comment))
            if not result.ok:
                raise ProvisionError(
                    f"{machine.name}: cannot add the attendee key to authorized_keys "
                    f"(exit {result.exit_status}): {result.stderr.strip()[:200]}",
                    "`labctl ssh` to the machine and look at ~/.ssh; then `labctl up` again",
                )
            rt.progress.step(phase, f"{machine.name}: accepts the attendee key")
            for key in pinned_keys(rt.known_hosts, machine.name).values():
                known.append(f"{machine.name} {key.get_name()} {key.get_base64()}")
    paths = GatewayPaths(PurePosixPath(access.sshd_config), access.account)
    for line in open_gateway(paths, keys_line(public, permitted(plan), comment), comment):
        rt.progress.step(phase, line)
    gateway = [f"{plan.name}-gateway {kind} {blob}"
               for kind, blob in gateway_host_keys(access.sshd_config)]  # fmt: skip
    user = targets[plan.machines[0].name].user
    record = record_for(plan, access, lab_dir=str(rt.lab_dir),
                        known_hosts=(*gateway, *known), user=user)  # fmt: skip
    write_atomic(rt.lab_dir / ACCESS_FILE, record.to_json(), mode=0o600)
    rt.notes[phase.name] = f"gateway {access.gateway}, {len(record.reach)} addresses permitted"


def read_record(lab_dir: Path) -> AccessRecord | None:
    """access.json, or None when the lab has none (or it cannot be read: the caller says so)."""
    try:
        return AccessRecord.from_json((lab_dir / ACCESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def close_access(plan: Plan, lab_dir: Path) -> Iterator[str]:
    """Undo the access phase: the lab's gateway entry (and, with the last lab's, the drop-in and
    labctl's account), the attendee key pair and access.json. Uses what access.json recorded,
    so a lab whose spec lost its access section is still cleaned up."""
    from labctl.lab.access import KEY_FILE  # noqa: PLC0415
    from labctl.lab.gateway import close_gateway, forget_attendee_key  # noqa: PLC0415

    record = read_record(lab_dir)
    access = plan.lab.access
    comment = key_comment(plan.name, str(lab_dir))
    if record is not None:
        yield from close_gateway(record.paths, comment)
    elif access is not None and (lab_dir / KEY_FILE).exists():  # the phase began, did not end
        yield from close_gateway(
            GatewayPaths(PurePosixPath(access.sshd_config), access.account), comment
        )
    if forget_attendee_key(lab_dir):
        yield "removed the attendee key"
    if (lab_dir / ACCESS_FILE).exists():
        (lab_dir / ACCESS_FILE).unlink()
        yield f"removed {ACCESS_FILE}"

"""`labctl kubeconfig [path|get|merge|tunnel]`: the lab's kubeconfig, for kubectl."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.common import relative, resolve

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.cli.common import Resolved
from labctl.cli.output import OUT


class Action(StrEnum):
    PATH = "path"
    GET = "get"
    MERGE = "merge"
    TUNNEL = "tunnel"


def kubeconfig(
    action: Annotated[
        Action,
        typer.Argument(
            help="path: where it is; get: print it; merge: add to ~/.kube/config; tunnel: "
            "reach the API through SSH when its address is not reachable from here."
        ),
    ] = Action.PATH,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Lab spec (default ./lab.yaml).")
    ] = None,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="tunnel: the local port.")
    ] = 16443,
) -> None:
    """Show, print or merge the lab's kubeconfig, or tunnel to its API.

    Its context is labctl-<lab>; `merge` backs up ~/.kube/config first. `tunnel` forwards a
    local port to the first server's API over SSH (through the hypervisor of a remote lab)
    and writes a kubeconfig for it; it runs until Ctrl-C.
    """
    from pathlib import Path  # noqa: PLC0415 - lazy: keeps --help fast

    from labctl.errors import KubeconfigError  # noqa: PLC0415
    from labctl.lab import kubeconfig as kc  # noqa: PLC0415

    resolved = resolve(Path(file) if file else None)
    path = kc.lab_kubeconfig_path(resolved.lab_dir)
    if not path.exists():
        raise KubeconfigError(
            f"lab {resolved.plan.name} has no kubeconfig yet ({relative(path)})",
            "`labctl up` writes it in its kubeconfig phase",
        )
    if action is Action.PATH:
        OUT.data(str(path))
    elif action is Action.TUNNEL:
        _tunnel(resolved, path, port)
    elif action is Action.GET:
        kc.load_lab_kubeconfig(path)  # refuse to print something that is not a kubeconfig
        OUT.data(path.read_text(encoding="utf-8"))
    else:
        result = kc.merge_into_user_config(path, kc.context_name(resolved.plan.name))
        verb = "added to" if result.added else ("updated in" if result.changed else "already in")
        OUT.line(f"Context {result.context} {verb} {result.target}.")
        if result.backup:
            OUT.line(f"Backup of the previous file: {result.backup}")
        OUT.line(f"Use it: kubectl --context {result.context} get nodes "
                 "(`labctl destroy` removes it again)")  # fmt: skip


def _tunnel(resolved: Resolved, lab_config: Path, port: int) -> None:
    """Write the tunnel's kubeconfig, then hold `ssh -N -L` to the first server open."""
    import socket  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    from labctl.errors import UsageError  # noqa: PLC0415
    from labctl.lab import kubeconfig as kc  # noqa: PLC0415
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415
    from labctl.lab.targets import load_target  # noqa: PLC0415
    from labctl.plan import Role  # noqa: PLC0415
    from labctl.render import ssh_forward_argv  # noqa: PLC0415

    server = next(m.name for m in resolved.plan.machines if m.role is Role.SERVER)
    target = load_target(resolved.lab_dir, server)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(f"port {port} on 127.0.0.1 cannot be used here: {exc.strerror}",
                             "pick a free one with --port") from None  # fmt: skip
    doc = kc.tunnel_config(kc.load_lab_kubeconfig(lab_config), port)
    tunnel_config = resolved.lab_dir / "kubeconfig-tunnel"
    write_atomic(tunnel_config, kc.dump(doc), mode=0o600)
    via = f" through {target.jump.name}" if target.jump else ""
    OUT.line(f"Tunnel from 127.0.0.1:{port} to the API on {server}{via}; Ctrl-C closes it.")
    OUT.line(f"In another terminal: export KUBECONFIG={relative(tunnel_config)}; "
             "kubectl get nodes")  # fmt: skip
    known_hosts = str(resolved.lab_dir / "known_hosts")
    argv = ssh_forward_argv(target, known_hosts, port, "127.0.0.1:6443")
    raise typer.Exit(subprocess.call(argv))

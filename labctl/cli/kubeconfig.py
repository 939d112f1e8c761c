"""`labctl kubeconfig [path|get|merge]`: the lab's kubeconfig, for kubectl."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from labctl.cli.common import relative, resolve
from labctl.cli.output import OUT


class Action(StrEnum):
    PATH = "path"
    GET = "get"
    MERGE = "merge"


def kubeconfig(
    action: Annotated[
        Action,
        typer.Argument(help="path: where it is; get: print it; merge: add to ~/.kube/config."),
    ] = Action.PATH,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Lab spec (default ./lab.yaml).")
    ] = None,
) -> None:
    """Show, print or merge the lab's kubeconfig.

    Its context is labctl-<lab>; `merge` backs up ~/.kube/config first.
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

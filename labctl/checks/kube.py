"""Pure helpers the judges share: read step records, parse kubectl/curl JSON, read API objects.

Field names follow the Kubernetes API (core/v1 Node and Pod, apps/v1 Deployment): a judge never
greps text, it reads these fields from `kubectl ... -o json`.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from labctl.checks.model import CheckCannotRunError, Records, Status, StepRecord
from labctl.messages import quoted

KUBECTL = "sudo k3s kubectl"
# The address VirtualBox gives every VM on its NAT interface: a node advertising it is the
# classic multi-VM K3s pitfall (K3s picked eth0, not the lab network).
NAT_ADDRESS = "10.0.2.15"


def kubectl(*args: str) -> str:
    """A kubectl command line run as root on a server (K3s's kubeconfig is root's)."""
    return " ".join([KUBECTL, *(shlex.quote(a) for a in args)])


def need(records: Records, key: str) -> StepRecord:
    """The record of a step that must have run."""
    record = records.get(key)
    if record is None:
        # An earlier step stopped the check, or the runner lost the machine: not the lab's fault.
        raise CheckCannotRunError(f"step {key} did not run", Status.ERROR)
    return record


def need_ok(records: Records, key: str) -> StepRecord:
    """The record of a step that must have exited 0; else the check fails with its stderr."""
    record = need(records, key)
    if not record.result.ok:
        raise CheckCannotRunError(describe_failure(record))
    return record


def need_json(records: Records, key: str) -> Any:
    """A step's stdout as one JSON document (kubectl -o json, curl of a JSON API)."""
    record = need_ok(records, key)
    try:
        return json.loads(record.result.stdout)
    except json.JSONDecodeError as exc:
        raise CheckCannotRunError(
            f"{record.machine}: `{short(record.command)}` did not print JSON ({exc.msg} at "
            f"line {exc.lineno}): {quoted(first_line(record.result.stdout))}"
        ) from None


def json_stream(text: str) -> list[Any]:
    """Every JSON document in a probe's stdout, however they are separated (curl bodies and the
    `-w` trailer follow each other); text between documents is skipped."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    index = 0
    while True:
        starts = [i for i in (text.find("{", index), text.find("[", index)) if i >= 0]
        if not starts:
            return values
        index = min(starts)
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index += 1
            continue
        values.append(value)


def describe_failure(record: StepRecord) -> str:
    """`kubectl get ...` on demo-server-1 exited 1: <the last line of stderr>."""
    detail = last_line(record.result.stderr) or last_line(record.result.stdout) or "no output"
    return (
        f"{record.machine}: `{short(record.command)}` exited {record.result.exit_status}: {detail}"
    )


def short(command: str, limit: int = 70) -> str:
    line = " ".join(command.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def items(document: Any, kind: str) -> list[dict[str, Any]]:
    """The items of a `kubectl get ... -o json` List."""
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise CheckCannotRunError(f"expected a {kind} list from kubectl, got something else")
    return [item for item in document["items"] if isinstance(item, dict)]


def name_of(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    labels = obj.get("metadata", {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type `kind` (Ready, Available, ...), if reported."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def node_ready(node: dict[str, Any]) -> bool:
    cond = condition(node, "Ready")
    return cond is not None and cond.get("status") == "True"


def node_internal_ip(node: dict[str, Any]) -> str | None:
    for address in node.get("status", {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


def pod_problem(pod: dict[str, Any]) -> str | None:
    """Why a pod is not healthy, in the words `kubectl get pods` uses; None when it is.

    Running with every container ready, or Succeeded (a finished Job such as K3s's
    helm-install pods), is healthy.
    """
    status = pod.get("status", {})
    phase = status.get("phase", "Unknown")
    if phase == "Succeeded":
        return None
    statuses = status.get("containerStatuses") or []
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            restarts = container.get("restartCount", 0)
            again = f", restarted {restarts} times" if restarts else ""
            return f"{waiting['reason']}{again}"
        terminated = (container.get("state") or {}).get("terminated")
        if terminated and phase != "Succeeded":
            return f"container {container.get('name')} terminated: {terminated.get('reason')}"
    if phase != "Running":
        reason = status.get("reason") or (condition(pod, "PodScheduled") or {}).get("reason")
        return f"{phase}" + (f" ({reason})" if reason else "")
    not_ready = [str(c.get("name")) for c in statuses if not c.get("ready")]
    if not_ready:
        return f"Running but not ready: {', '.join(not_ready)}"
    return None


def pod_ready(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and pod_problem(pod) is None


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"

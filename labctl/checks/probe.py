"""Throw-away probe pods: create, wait until finished, read the logs, delete.

`kubectl run --rm -i` is not used: kubectl attaches only once the container runs, and what the
container printed before the attach is lost. A probe prints within milliseconds, so its answer
would be lost at random. The pod's log keeps everything, so the probe reads that instead.
"""

from __future__ import annotations

import json
import shlex

from labctl.checks.demo import PROBE_IMAGE, PROBE_POD_PREFIX
from labctl.checks.kube import kubectl

# How long a probe pod may take from creation to finishing (image present on the node: seconds;
# a node still pulling or a pod that cannot be scheduled runs into the bound).
PROBE_FINISH_WITHIN_S = 120
PROBE_STEP_TIMEOUT_S = PROBE_FINISH_WITHIN_S + 60
_POLL_EVERY_S = 1


def probe_pod(
    suffix: str, script: str, node: str | None = None, within: int = PROBE_FINISH_WITHIN_S
) -> str:
    """A shell command running `script` in a busybox pod and printing what it printed.

    It deletes a leftover pod of an interrupted run first, so the name is free; creates the
    pod; polls its phase until Succeeded or Failed, at most `within` seconds; prints its
    log; deletes it. It exits non-zero, with the pod's phase and waiting reason on stderr, when
    the pod did not succeed in time (ErrImagePull, Pending, ...). `node` pins the pod.
    """
    pod = f"{PROBE_POD_PREFIX}-{suffix}"
    pinned = (
        ["--overrides", json.dumps({"apiVersion": "v1", "spec": {"nodeName": node}})]
        if node
        else []
    )
    create = kubectl(
        "run",
        pod,
        f"--image={PROBE_IMAGE}",
        "--image-pull-policy=IfNotPresent",
        "--restart=Never",
        *pinned,
        "--command",
        "--",
        "sh",
        "-c",
        script,
    )
    state = kubectl(
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.phase} {.status.containerStatuses[*].state.waiting.reason}",
    )
    cleanup = kubectl("delete", "pod", pod, "--ignore-not-found", "--wait=false")
    return (
        f"{kubectl('delete', 'pod', pod, '--ignore-not-found', '--wait=true')} >/dev/null 2>&1; "
        f"{create} >/dev/null || exit $?; "
        f"end=$(( $(date +%s) + {within} )); "
        "while :; do "
        f"s=$({state} 2>/dev/null); "
        'case "$s" in Succeeded*|Failed*) break;; esac; '
        'if [ "$(date +%s)" -ge "$end" ]; then '
        f"echo {shlex.quote(f'probe pod {pod} did not finish within {within} s:')}"
        ' "${s:-no status}" >&2; '
        f"{cleanup} >/dev/null 2>&1; exit 1; fi; "
        f"sleep {_POLL_EVERY_S}; done; "
        f"{kubectl('logs', pod)}; rc=$?; "
        f"{cleanup} >/dev/null 2>&1; "
        'case "$s" in Succeeded*) exit $rc;; esac; '
        f'echo {shlex.quote(f"probe pod {pod} ended")} "$s" >&2; exit 1'
    )

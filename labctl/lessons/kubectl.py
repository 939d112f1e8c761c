"""Reading a probe's kubectl command line: its verb, kinds, name, namespace and output format.

Pure. The loader uses it to refuse probes that would change the cluster, the contract test to
prove every probe prints what its judge reads, and the runner to run it as root on a server.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from labctl.checks.kube import KUBECTL

# Every spelling kubectl accepts for the kinds lessons read -> one canonical name.
KINDS: dict[str, str] = {}
for _canonical, _spellings in {
    "node": ("node", "nodes", "no"),
    "pod": ("pod", "pods", "po"),
    "deployment": ("deployment", "deployments", "deploy", "deployments.apps"),
    "replicaset": ("replicaset", "replicasets", "rs"),
    "service": ("service", "services", "svc"),
    "endpoints": ("endpoints", "ep"),
    "ingress": ("ingress", "ingresses", "ing", "ingresses.networking.k8s.io"),
    "hpa": ("hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"),
    "event": ("event", "events", "ev"),
    "namespace": ("namespace", "namespaces", "ns"),
    "application": ("application", "applications", "applications.argoproj.io", "app", "apps"),
}.items():
    for _spelling in _spellings:
        KINDS[_spelling] = _canonical

READ_ONLY_VERBS = ("get", "exec")
_VALUED = {
    "-n": "namespace",
    "--namespace": "namespace",
    "-o": "output",
    "--output": "output",
    "-l": "selector",
    "--selector": "selector",
    "--raw": "raw",
    "-c": "container",
    "--container": "container",
}


class KubectlParseError(ValueError):
    """The command is not a kubectl command line labctl can read."""


@dataclass(frozen=True)
class KubectlCall:
    """A kubectl command line taken apart."""

    verb: str
    kinds: tuple[str, ...] = ()
    name: str | None = None
    namespace: str | None = None
    output: str | None = None
    selector: str | None = None
    raw: str | None = None
    argv: tuple[str, ...] = ()  # after `--` (exec)


def parse_kubectl(command: str) -> KubectlCall:  # noqa: PLR0912 - a flat flag scanner
    """Split `kubectl VERB ...` into its parts; unknown kinds and flags are an error."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise KubectlParseError(f"cannot split the command: {exc}") from None
    if not words or words[0] != "kubectl":
        raise KubectlParseError("a probe must be a `kubectl ...` command")
    words, argv = _split_argv(words[1:])
    values: dict[str, str] = {}
    positional: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        flag, eq, value = word.partition("=")
        if flag in _VALUED:
            if not eq:
                index += 1
                if index >= len(words):
                    raise KubectlParseError(f"{flag} needs a value")
                value = words[index]
            values[_VALUED[flag]] = value
        elif word.startswith("-"):
            raise KubectlParseError(f"labctl does not read the kubectl flag {word!r} in a probe")
        else:
            positional.append(word)
        index += 1
    if not positional:
        raise KubectlParseError("no kubectl verb")
    verb, rest = positional[0], positional[1:]
    kinds: tuple[str, ...] = ()
    name = None
    if verb == "get" and "raw" not in values:
        if not rest:
            raise KubectlParseError("`kubectl get` needs a kind")
        unknown = [k for k in rest[0].split(",") if k not in KINDS]
        if unknown:
            raise KubectlParseError(
                f"unknown kind {unknown[0]!r}; known: {', '.join(sorted(set(KINDS.values())))}"
            )
        kinds = tuple(KINDS[k] for k in rest[0].split(","))
        name = rest[1] if len(rest) > 1 else None
    elif verb == "exec":
        name = rest[0] if rest else None
    return KubectlCall(
        verb,
        kinds,
        name,
        values.get("namespace"),
        values.get("output"),
        values.get("selector"),
        values.get("raw"),
        tuple(argv),
    )


def _split_argv(words: list[str]) -> tuple[list[str], list[str]]:
    if "--" in words:
        at = words.index("--")
        return words[:at], words[at + 1 :]
    return words, []


def on_server(command: str) -> str:
    """The learner's `kubectl ...` as root on a server, where K3s keeps its kubeconfig."""
    words = shlex.split(command)
    return " ".join([KUBECTL, *(shlex.quote(w) for w in words[1:])])

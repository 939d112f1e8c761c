"""The lab's kubeconfig, and merging it into the user's own (`labctl kubeconfig [path|get|merge]`).

The kubeconfig role writes `.labctl/<lab>/kubeconfig` (0600) whose cluster, user and context are
all named `labctl-<lab>`. Merging is opt-in: it puts those three entries into the user's
kubeconfig under that one unique name, keeps every other entry and the user's current context,
and backs the file up first. `destroy` takes exactly those entries out again.

`merge`/`unmerge` are pure (documents in, document out); the `*_user_config` functions are the
file edge: they read, back up and write atomically (0600), and refuse to touch a file they cannot
parse rather than overwrite what the user had.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from labctl.errors import KubeconfigError
from labctl.lab.labdir import write_atomic
from labctl.messages import quoted

SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
BACKUP_INFIX = ".labctl-backup-"
MAX_KUBECONFIG_BYTES = 4 << 20  # hundreds of clusters with their certificates fit in 1 MiB


@dataclass(frozen=True)
class MergeResult:
    """What a merge did to the user's kubeconfig, for the CLI to report."""

    target: Path
    context: str
    backup: Path | None  # None when there was no file yet, or nothing changed
    added: bool  # the context was new (False: an entry of that name was replaced)
    changed: bool  # False: the file already held exactly these entries and was left alone


def context_name(lab: str) -> str:
    """The one name the lab's cluster, user and context carry everywhere: `labctl-<lab>`."""
    return f"labctl-{lab}"


def lab_kubeconfig_path(lab_dir: Path) -> Path:
    """Where the kubeconfig role writes the lab's kubeconfig (`labctl kubeconfig path`)."""
    return lab_dir / "kubeconfig"


def default_target(env: dict[str, str] | None = None, home: Path | None = None) -> Path:
    """The file kubectl writes to: $KUBECONFIG's first entry if set, else ~/.kube/config."""
    environ = os.environ if env is None else env
    for entry in environ.get("KUBECONFIG", "").split(os.pathsep):
        if entry.strip():
            return Path(entry.strip()).expanduser()
    return (home or Path.home()) / ".kube" / "config"


# --- pure -----------------------------------------------------------------------------------


def _entries(doc: dict[str, Any], section: str, where: str) -> list[dict[str, Any]]:
    """A section's list (null or absent counts as empty); anything else is refused."""
    value = doc.get(section)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise KubeconfigError(
            f"{where}: `{section}` is not a list of entries",
            "fix the file by hand (or move it aside); labctl will not rewrite what it cannot read",
        )
    return value


def validate_lab_config(doc: object, where: str = "the lab kubeconfig") -> dict[str, Any]:
    """The lab kubeconfig as the role writes it: v1 Config with one cluster, user and context."""
    hint = "run `labctl up --from kubeconfig` to fetch it from the first server again"
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{where} is not a YAML mapping", hint)
    if doc.get("apiVersion") != "v1" or doc.get("kind") != "Config":
        raise KubeconfigError(
            f"{where} is not a kubeconfig (apiVersion {quoted(doc.get('apiVersion'))}, "
            f"kind {quoted(doc.get('kind'))}; expected v1 Config)",
            hint,
        )
    for section, body in SECTIONS:
        entries = _entries(doc, section, where)
        if len(entries) != 1:
            raise KubeconfigError(
                f"{where} has {len(entries)} {section}; a lab kubeconfig has exactly one", hint
            )
        if not isinstance(entries[0].get(body), dict):
            raise KubeconfigError(f"{where}: the entry in `{section}` has no `{body}` map", hint)
    return doc


def _user_doc(existing: dict[str, Any] | None, where: str) -> dict[str, Any]:
    if existing is None:
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    if not isinstance(existing, dict):
        raise KubeconfigError(
            f"{where} is not a YAML mapping",
            "fix the file by hand (or move it aside); labctl will not rewrite what it cannot read",
        )
    doc = copy.deepcopy(existing)
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    for section, _ in SECTIONS:
        _entries(doc, section, where)
    return doc


def merge(
    existing: dict[str, Any] | None,
    lab_config: dict[str, Any],
    context: str,
    where: str = "the kubeconfig",
) -> dict[str, Any]:
    """`existing` with the lab's cluster, user and context added under the one name `context`.

    Entries already named `context` are replaced; every other entry stays, in order. The user's
    current-context is kept unless it is empty, then it becomes `context`. Inputs are not changed.
    """
    lab = validate_lab_config(lab_config)
    doc = _user_doc(existing, where)
    lab_cluster = copy.deepcopy(lab["clusters"][0]["cluster"])
    lab_user = copy.deepcopy(lab["users"][0]["user"])
    lab_context = {**copy.deepcopy(lab["contexts"][0]["context"]), "cluster": context}
    lab_context["user"] = context
    bodies = {"cluster": lab_cluster, "user": lab_user, "context": lab_context}
    for section, body in SECTIONS:
        kept = [e for e in _entries(doc, section, where) if e.get("name") != context]
        doc[section] = [*kept, {"name": context, body: bodies[body]}]
    if not doc.get("current-context"):
        doc["current-context"] = context
    return doc


def unmerge(
    existing: dict[str, Any], context: str, where: str = "the kubeconfig"
) -> dict[str, Any]:
    """`existing` without the cluster, user and context named `context` (pure, for destroy).

    current-context is emptied only when it pointed at `context`; nothing else is touched.
    """
    doc = _user_doc(existing, where)
    for section, _ in SECTIONS:
        if section in doc:
            doc[section] = [e for e in _entries(doc, section, where) if e.get("name") != context]
    if doc.get("current-context") == context:
        doc["current-context"] = ""
    return doc


def has_context(doc: dict[str, Any], context: str) -> bool:
    """Whether any of the three sections holds an entry named `context`."""
    return any(
        isinstance(e, dict) and e.get("name") == context
        for section, _ in SECTIONS
        for e in (doc.get(section) or [])
    )


def dump(doc: dict[str, Any]) -> str:
    """YAML as kubectl writes it: block style, keys in their order, long base64 lines unbroken."""
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=False, width=1 << 20)


def tunnel_config(lab_config: dict[str, Any], port: int) -> dict[str, Any]:
    """The lab kubeconfig with its API at https://127.0.0.1:PORT, the local end of `labctl
    kubeconfig tunnel`. K3s's serving certificate always names 127.0.0.1, so TLS still
    verifies against the lab's CA."""
    doc = copy.deepcopy(validate_lab_config(lab_config))
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    return doc


# --- edge: files -----------------------------------------------------------------------------


def _parse(path: Path, text: str) -> object:
    from labctl.spec.bounded import YamlInputError, load  # noqa: PLC0415

    try:
        return load(text)  # within bounds: aliases, nesting and numbers cannot run away
    except YamlInputError as exc:
        raise KubeconfigError(
            f"{exc.where(str(path))}: {exc.message}; labctl left it untouched",
            "fix that line (or move the file aside), then run the command again",
        ) from None


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_KUBECONFIG_BYTES:
            raise KubeconfigError(
                f"{path} is larger than {MAX_KUBECONFIG_BYTES >> 20} MiB; "
                "labctl reads kubeconfigs up to that size and left it untouched",
                "move it aside, or merge by hand with `kubectl config view --flatten`",
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeconfigError(
            f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
            "check the file's permissions and encoding (kubeconfigs are UTF-8 YAML)",
        ) from None


def load_lab_kubeconfig(path: Path) -> dict[str, Any]:
    """The lab kubeconfig, validated; missing means the kubeconfig phase has not run."""
    text = _read(path)
    if text is None:
        raise KubeconfigError(
            f"{path} does not exist: the lab's kubeconfig phase has not run",
            "run `labctl up` (it fetches the kubeconfig from the first server)",
        )
    return validate_lab_config(_parse(path, text), str(path))


def _real(target: Path) -> Path:
    """Write through a symlinked kubeconfig (dotfile managers) instead of replacing the link."""
    return target.resolve() if target.is_symlink() else target


def _load_user(target: Path) -> tuple[str | None, dict[str, Any] | None]:
    text = _read(target)
    if text is None:
        return None, None
    doc = _parse(target, text)
    if doc is None:  # an empty file is an empty kubeconfig
        return text, None
    if not isinstance(doc, dict):
        raise KubeconfigError(
            f"{target} is not a kubeconfig (its top level is not a mapping); labctl left it alone",
            "fix the file by hand (or move it aside) and run the command again",
        )
    return text, doc


def _backup(target: Path, text: str, stamp: str | None = None) -> Path:
    """A 0600 copy of `target` beside it, under a name no earlier backup has taken."""
    base = f"{target.name}{BACKUP_INFIX}{stamp or time.strftime('%Y%m%d-%H%M%S')}"
    backup, n = target.with_name(base), 1
    while backup.exists():
        backup, n = target.with_name(f"{base}-{n}"), n + 1
    write_atomic(backup, text, mode=0o600)
    return backup


def _write(target: Path, doc: dict[str, Any]) -> None:
    if not target.parent.exists():
        target.parent.mkdir(mode=0o700, parents=True)  # ~/.kube as kubectl creates it
    try:
        write_atomic(target, dump(doc), mode=0o600)
    except OSError as exc:
        raise KubeconfigError(
            f"cannot write {target}: {exc.strerror or exc}",
            "check that its folder is writable",
        ) from None


def merge_into_user_config(
    lab_kubeconfig: Path, context: str, target: Path | None = None
) -> MergeResult:
    """Merge the lab kubeconfig into the user's (`labctl kubeconfig merge`), backing it up first.

    The existing file is backed up once, to `<target>.labctl-backup-<stamp>` (0600), only when
    the merge changes it; the result is written atomically with mode 0600.
    """
    lab = load_lab_kubeconfig(lab_kubeconfig)
    target = target or default_target()
    real = _real(target)
    text, existing = _load_user(real)
    merged = merge(existing, lab, context, where=str(real))
    added = existing is None or not has_context(existing, context)
    if existing is not None and merged == existing:
        return MergeResult(target, context, None, added=False, changed=False)
    backup = _backup(real, text) if text is not None else None
    _write(real, merged)
    return MergeResult(target, context, backup, added=added, changed=True)


def remove_from_user_config(context: str, target: Path | None = None) -> bool:
    """Take the lab's entries out of the user's kubeconfig (on destroy); False when none were there.

    Never creates the file; backs it up (0600) before changing it, like a merge.
    """
    real = _real(target or default_target())
    text, existing = _load_user(real)
    if text is None or existing is None:
        return False
    remaining = unmerge(existing, context, where=str(real))
    if remaining == existing:
        return False
    _backup(real, text)
    _write(real, remaining)
    return True

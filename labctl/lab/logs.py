"""`labctl logs [--bundle]`: the last run's logs, summarised or packed as a redacted tarball.

Runs land in `.labctl/<lab>/runs/<stamp>-<phase>/` (ansible-runner artifacts) and
`runs/<stamp>-vagrant/` (Vagrant logs); one `up` shares one stamp, so "the last run" is every
directory of the newest stamp. A bundle is meant to be attached to a bug report, so it holds
only what helps debugging -- the run set, state.json and the rendered Vagrantfile, ansible.cfg
and inventory/ -- and every byte of it goes through `redact` with the lab's own secrets.

What `redact` replaces with `<redacted>` (and nothing more is promised):

1. Every known secret (each file in `secrets/`, as a whole and line by line, and the credentials
   in the lab kubeconfig), as it is and in the forms it shows up in: JSON-escaped,
   percent-encoded, and base64 (standard and URL-safe, padded or not, of the value and of the
   value plus the newline its file ends with) -- also in the middle of a longer base64 blob when
   the secret is 12 bytes or more, leaving at most two characters either side.
2. K3s join tokens: `K10<hex>::<user>:<password>` (server and node tokens) and bootstrap tokens
   `K10<hex>::<id>.<secret>`, whatever the secret.
3. PEM private keys (`-----BEGIN ... PRIVATE KEY-----` to END, also with `\\n` escapes in JSON).
4. Values of keys whose name contains password, passwd, passphrase, token, secret, api-key,
   private-key or client-key-data (any case, `_`/`-` alike), unless the name ends in file, path
   or dir (those hold paths): JSON `"key": "value"` (also escaped inside a JSON string),
   YAML/INI/env `key: value`, `key = value`, `KEY=value` (a quoted value, else one token up to
   whitespace or `,;}]`), and command-line flags `--token VALUE` / `--token=VALUE`. Empty,
   null/none/~, true/false/yes/no and `{{ templated }}` values are left as they are.
5. `Authorization: Bearer|Basic <credential>` and the password in `scheme://user:password@host`.

Besides redaction, the environment in ansible-runner's `command` file keeps only ANSIBLE_*, PATH,
LANG, LC_*, PYTHONPATH and VIRTUAL_ENV values; the rest become `<omitted>`.

Not caught: a secret split across lines or otherwise transformed (hashed, hex-encoded,
gzip'd), YAML block scalars (`password: |`), and credentials under key names not listed above
that are not among the lab's secrets.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labctl.errors import LogsError
from labctl.lab.labdir import write_atomic

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

REDACTED = "<redacted>"
TAIL_LINES = 20
MIN_EMBEDDED_B64_BYTES = 12  # shorter secrets make base64 fragments that match by chance

# The order of a run set's directories in summaries: `up`'s phases, Vagrant logs at boot.
PHASE_ORDER = (
    "preflight", "render", "vagrant", "boot", "wait-ssh", "prepare", "k3s-servers",
    "k3s-agents", "kubeconfig", "addons", "checks",
)  # fmt: skip
RENDERED = ("Vagrantfile", "ansible.cfg", "state.json")
RENDERED_DIRS = ("inventory",)
# Belt and braces: never packed even if they turn up inside a collected directory.
NEVER_DIRS = frozenset({"secrets", ".vagrant", ".ssh"})
NEVER_NAME = re.compile(
    r"(kubeconfig|private_key|ssh_key_data|known_hosts|^id_(rsa|dsa|ecdsa|ed25519)(?!.*\.pub$)"
    r"|\.(pem|key|p12|pfx)$)",
    re.IGNORECASE,
)
# ansible-runner's `command` file records labctl's whole environment; keep only what explains
# the run, since the rest is the user's (cloud keys, tokens) and not ours to ship.
COMMAND_ENV_KEEP = re.compile(r"^(ANSIBLE_\w+|PATH|LANG|LC_\w+|PYTHONPATH|VIRTUAL_ENV)$")

_STAMPED = re.compile(r"^(\d{8}-\d{6})-(.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# --- pure: redaction -------------------------------------------------------------------------

_KEY = (
    r"[A-Za-z0-9_.-]*(?:password|passwd|passphrase|token|secret|api[_-]?key|private[_-]?key"
    r"|client[_-]key[_-]data)[A-Za-z0-9_.-]*"
)
_PATHLIKE_KEY = re.compile(r"(file|path|dir)$", re.IGNORECASE)
_KEEP_VALUE = re.compile(r"^(null|none|~|true|false|yes|no|\{\{.*)$", re.IGNORECASE | re.DOTALL)

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL
)
_K3S_TOKEN = re.compile(r"K10[0-9a-fA-F]{16,}::[^\s\"'\\,;]+")
_URL_CREDS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@\"']+):([^@\s/\"']+)@")
_AUTH = re.compile(
    r"(?i)(\bauthorization\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?(?:bearer|basic)[ \t]+)"
    r"([A-Za-z0-9._~+/=-]+)"
)
_JSON_PAIR = re.compile(rf'(?i)("({_KEY})"[ \t]*:[ \t]*")((?:[^"\\\n]|\\.)*)(")')
_ESCAPED_JSON_PAIR = re.compile(rf'(?i)(\\"({_KEY})\\"[ \t]*:[ \t]*\\")(.*?)(\\")')
_FLAG = re.compile(rf"(?i)((?<![\w-])--({_KEY})(?:=|[ \t]+))(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;]+)")
_PAIR = re.compile(
    rf"(?i)((?<![\w.-])[\"']?({_KEY})[\"']?[ \t]*[:=][ \t]*)"
    r"(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|[^\s\"',;}\]]+)"
)


def _b64_forms(raw: bytes) -> set[str]:
    """base64 of `raw` whole (padded or not, standard or URL-safe) and, when long enough, the part
    of it that is the same wherever `raw` sits inside a longer base64 blob."""
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        if len(raw) >= MIN_EMBEDDED_B64_BYTES:
            for offset in range(3):
                shifted = encode(b"\0" * offset + raw).decode("ascii")
                # chars wholly made of the secret's bits: after the offset bytes, before the tail
                start, end = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
                forms.add(shifted[start:end])
    return forms


def secret_forms(secret: str) -> set[str]:
    """Every spelling of `secret` that `redact` replaces (empty for blank secrets)."""
    value = secret.strip()
    if not value:
        return set()
    forms = {value, json.dumps(value)[1:-1], quote(value, safe="")}
    for raw in (value.encode(), (value + "\n").encode()):
        forms |= _b64_forms(raw)
    return {f for f in forms if f}


def _keep(key: str, value: str) -> bool:
    """Leave paths, blanks, null/booleans, templates and already redacted values alone."""
    value = value.strip()
    return (
        bool(_PATHLIKE_KEY.search(key))
        or not value
        or bool(_KEEP_VALUE.match(value))
        or REDACTED in value
    )


def _redact_json_value(match: re.Match[str]) -> str:
    """`"key": "value"` -> `"key": "<redacted>"`; groups: opening, key, value, closing quote."""
    if _keep(match[2], match[3]):
        return match[0]
    return f"{match[1]}{REDACTED}{match[4]}"


def _redact_value(match: re.Match[str]) -> str:
    """`key: value` or `--key value` -> the value redacted, keeping its quotes."""
    value = match[3]
    quoted = len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]
    inner = value[1:-1] if quoted else value
    if _keep(match[2], inner):
        return match[0]
    mark = value[0] if quoted else ""
    return f"{match[1]}{mark}{REDACTED}{mark}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every known secret and every credential-shaped value replaced by `<redacted>`.

    What counts as credential-shaped is listed in this module's docstring; blank secrets are
    ignored. Pure: the same text and secrets give the same result.
    """
    forms: set[str] = set().union(*(secret_forms(s) for s in secrets))
    if forms:
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        text = re.sub(alternatives, REDACTED, text)
    text = _PEM.sub(REDACTED, text)
    text = _K3S_TOKEN.sub(REDACTED, text)
    text = _URL_CREDS.sub(rf"\1:{REDACTED}@", text)
    text = _AUTH.sub(rf"\1{REDACTED}", text)
    text = _JSON_PAIR.sub(_redact_json_value, text)
    text = _ESCAPED_JSON_PAIR.sub(_redact_json_value, text)
    text = _FLAG.sub(_redact_value, text)
    return _PAIR.sub(_redact_value, text)


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    """`redact` for file contents: undecodable bytes pass through unchanged."""
    text = data.decode("utf-8", errors="surrogateescape")
    return redact(text, secrets).encode("utf-8", errors="surrogateescape")


def tidy_command_file(data: bytes) -> bytes:
    """ansible-runner's `command` file without the environment values labctl has no need to ship."""
    try:
        doc: Any = json.loads(data)
    except ValueError:
        return data
    if isinstance(doc, dict) and isinstance(doc.get("env"), dict):
        doc["env"] = {
            k: (v if COMMAND_ENV_KEEP.match(k) else "<omitted>") for k, v in doc["env"].items()
        }
        return json.dumps(doc, ensure_ascii=False).encode()
    return data


# --- reading the lab directory ---------------------------------------------------------------


@dataclass(frozen=True)
class RunSet:
    """The directories of one labctl run: every `runs/<stamp>-*` of one stamp, in phase order."""

    stamp: str
    dirs: tuple[Path, ...]

    @property
    def phases(self) -> tuple[str, ...]:
        return tuple(d.name.removeprefix(f"{self.stamp}-") for d in self.dirs)


def _phase_key(phase: str) -> tuple[int, str]:
    first = phase.partition("..")[0]  # one run of several phases: `prepare..kubeconfig`
    return (PHASE_ORDER.index(first) if first in PHASE_ORDER else len(PHASE_ORDER), phase)


def latest_run(lab_dir: Path) -> RunSet:
    """The newest stamp's run directories; a lab that never ran is an error with a hint."""
    runs = lab_dir / "runs"
    stamped: dict[str, list[tuple[str, Path]]] = {}
    if runs.is_dir():
        for entry in runs.iterdir():
            match = _STAMPED.match(entry.name)
            if match and entry.is_dir() and not entry.is_symlink():
                stamped.setdefault(match[1], []).append((match[2], entry))
    if not stamped:
        raise LogsError(
            f"no runs in {runs}: this lab has not been brought up yet",
            "run `labctl up`; each run's logs land in that folder",
        )
    stamp = max(stamped)
    ordered = sorted(stamped[stamp], key=lambda pair: _phase_key(pair[0]))
    return RunSet(stamp, tuple(path for _, path in ordered))


def _kubeconfig_credentials(path: Path) -> list[str]:
    """The lab kubeconfig's user credentials, so a leaked copy is redacted too (best effort)."""
    from labctl.spec.bounded import YamlInputError, load  # noqa: PLC0415 - only bundles need it

    try:
        doc = load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, YamlInputError):
        return []  # the key/value patterns still catch client-key-data and tokens
    users = doc.get("users") if isinstance(doc, dict) else None
    found: list[str] = []
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        found.extend(user[k] for k in ("client-key-data", "token", "password")
                     if isinstance(user.get(k), str))  # fmt: skip
        if isinstance(user.get("client-key-data"), str):
            try:
                pem = base64.b64decode(user["client-key-data"]).decode()
            except ValueError:
                continue
            found.extend(line for line in pem.splitlines() if "-----" not in line)
    return found


def lab_secrets(lab_dir: Path) -> list[str]:
    """Every secret the lab holds: each file under secrets/ (whole and per line), kubeconfig keys.

    Unreadable secrets make redaction impossible, so that is an error rather than a skip.
    """
    found: list[str] = []
    secrets_dir = lab_dir / "secrets"
    if secrets_dir.is_dir():
        for path in sorted(secrets_dir.rglob("*")):
            if not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8", errors="surrogateescape")
            except OSError as exc:
                raise LogsError(
                    f"cannot read {path} ({exc.strerror or exc}), so logs cannot be redacted",
                    "run labctl as the user who owns the lab directory",
                ) from None
            found.append(text)
            found.extend(text.splitlines())
    found.extend(_kubeconfig_credentials(lab_dir / "kubeconfig"))
    return [s.strip() for s in found if s.strip()]


def _never_packed(rel: Path) -> bool:
    return any(part in NEVER_DIRS for part in rel.parts) or bool(NEVER_NAME.search(rel.name))


def _regular_files(root: Path) -> Iterator[Path]:
    """Regular files below `root`, never following symlinks (a link could point at secrets/)
    and never opening FIFOs (ansible-runner's ssh_key_data is one)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def bundle_members(lab_dir: Path, run: RunSet) -> list[Path]:
    """The files a bundle holds, relative to the lab directory, in archive order."""
    candidates: list[Path] = []
    for name in RENDERED:
        path = lab_dir / name
        if path.is_file() and not path.is_symlink():
            candidates.append(path)
    for root in (*(lab_dir / d for d in RENDERED_DIRS), *run.dirs):
        if root.is_dir() and not root.is_symlink():
            candidates.extend(_regular_files(root))
    relative = [p.relative_to(lab_dir) for p in candidates]
    return [rel for rel in relative if not _never_packed(rel)]


# --- edge: writing the bundle ----------------------------------------------------------------


def bundle(lab_dir: Path, out: Path | None = None) -> Path:
    """Pack the latest run set, state.json and the rendered files, all redacted, into a .tar.gz.

    Never the secrets/ folder, the kubeconfig or SSH keys. Members are 0600 and owned by root:root
    in the archive; the archive itself is written atomically with mode 0600. Returns its path.
    """
    run = latest_run(lab_dir)
    secrets = lab_secrets(lab_dir)
    top = f"labctl-{lab_dir.name}-logs-{run.stamp}"
    out = out or lab_dir / "bundles" / f"{top}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel in bundle_members(lab_dir, run):
            path = lab_dir / rel
            data = path.read_bytes()
            if rel.name == "command" and len(rel.parts) == 3:
                data = tidy_command_file(data)
            data = redact_bytes(data, secrets)
            info = tarfile.TarInfo(f"{top}/{rel.as_posix()}")
            info.size, info.mode, info.mtime = len(data), 0o600, int(path.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
    try:
        write_atomic(out, buffer.getvalue(), mode=0o600)
    except OSError as exc:
        raise LogsError(
            f"cannot write {out}: {exc.strerror or exc}", "pass a writable --output path"
        ) from None
    return out


# --- summary ---------------------------------------------------------------------------------


def _tail(path: Path, lines: int, secrets: list[str]) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    text = _ANSI.sub("", redact_bytes(data, secrets).decode("utf-8", errors="replace"))
    return [line.rstrip() for line in text.splitlines()[-lines:]]


def _read_small(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def summarise(lab_dir: Path, tail: int = TAIL_LINES) -> list[str]:
    """What `labctl logs` prints: per directory of the last run, its status and rc (ansible) or
    its logs (vagrant), with the last `tail` lines of each, redacted."""
    run = latest_run(lab_dir)
    secrets = lab_secrets(lab_dir)
    lines = [f"run {run.stamp}: {', '.join(run.phases)} (in {lab_dir / 'runs'})"]
    for phase, path in zip(run.phases, run.dirs, strict=True):
        if phase == "vagrant":
            logs = sorted(p for p in path.glob("*.log") if p.is_file() and not p.is_symlink())
            lines.append(f"{phase}: {len(logs)} Vagrant log(s) in {path}")
            for log in logs:
                lines.append(f"  {log.name} (last {tail} lines):")
                lines.extend(f"    {line}" for line in _tail(log, tail, secrets))
            continue
        status = _read_small(path / "status")
        rc = _read_small(path / "rc")
        state = (
            f"{status}, rc {rc}"
            if status is not None
            else "no status recorded (still running, or interrupted)"
        )
        lines.append(f"{phase}: {state} ({path})")
        stdout = path / "stdout"
        if stdout.is_file():
            lines.append(f"  stdout (last {tail} lines):")
            lines.extend(f"    {line}" for line in _tail(stdout, tail, secrets))
    return lines

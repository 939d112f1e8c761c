"""Key pairs labctl makes for a lab (the attendees', the in-lab controller's) and the commands
that put their public halves into a machine's authorized_keys and take them out again."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def keypair(path: Path) -> tuple[str, str]:
    """(private key in OpenSSH format, public key line) at `path` (0600, .pub beside it), made
    on first use with an ed25519 key from cryptography (a dependency through paramiko)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PrivateKey,
    )

    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    if not path.exists():
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path.with_suffix(".pub"), public + "\n", mode=0o644)
        write_atomic(path, private, mode=0o600)
    private = path.read_text(encoding="ascii")
    loaded = serialization.load_ssh_private_key(private.encode(), password=None)
    public = (
        loaded.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


def forget_keypair(path: Path) -> bool:
    """Remove the pair; True when there was one."""
    found = False
    for file in (path, path.with_suffix(".pub")):
        if file.exists():
            file.unlink()
            found = True
    return found


def authorize_command(public: str, comment: str) -> str:
    """Append `public comment` to the login user's authorized_keys once (idempotent)."""
    line = shlex.quote(f"{public} {comment}")
    return (
        "umask 077 && mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && "
        f"{{ grep -qxF {line} ~/.ssh/authorized_keys || echo {line} >> ~/.ssh/authorized_keys; }}"
    )


def deauthorize_command(comment: str) -> str:
    """Remove every authorized_keys line ending in ` comment` (the file's mode kept)."""
    suffix = shlex.quote(f" {comment}")
    return (
        'f=~/.ssh/authorized_keys; [ ! -e "$f" ] || '
        f'{{ grep -vF -- {suffix} "$f" > "$f.labctl"; cat "$f.labctl" > "$f"; '
        'rm -f "$f.labctl"; }'
    )

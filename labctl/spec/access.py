"""`access:`: attendees reach their lab from their own laptops through this host's OpenSSH (pure).

The facilitator's host is the gateway: its own sshd, with an account labctl adds (no shell, no
password, forwarding only to the addresses each lab's key permits). `gateway` is what attendees
type to reach that host; `sshd_config` is the server's main configuration, beside which labctl
writes its drop-in and the account's keys file.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from labctl.messages import quoted
from labctl.spec.machines import HOSTNAME_RE

# useradd's own rule for a portable name (shadow-utils' is_valid_user_name), kept short
_ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
DEFAULT_ACCOUNT = "labctl-gw"
DEFAULT_SSHD_CONFIG = "/etc/ssh/sshd_config"
DEFAULT_LOCAL_API_PORT = 16443


def split_gateway(value: str) -> tuple[str, int]:
    """`HOST[:PORT]` -> (host, port); ValueError saying what is wrong otherwise."""
    host, sep, port_text = value.rpartition(":") if ":" in value else (value, "", "")
    if "@" in value or "://" in value or " " in value:
        raise ValueError(
            f"{quoted(value)} is not HOST[:PORT]; give the address attendees reach this host at, "
            "e.g. gw.example.org or 192.168.1.20:2222 (the account is `access.account`)"
        )
    port = 22
    if sep:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{quoted(value)} has port {quoted(port_text)}; use 1-65535")
        port = int(port_text)
    if not HOSTNAME_RE.match(host):
        raise ValueError(
            f"{quoted(value)} is not a host name or IPv4 address with an optional port, "
            "e.g. gw.example.org or 192.168.1.20:2222"
        )
    return host, port


class Access(BaseModel):
    """Attendees on their own laptops: this host's sshd is their gateway to this lab alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway: str = Field(
        description="HOST[:PORT] attendees reach this host's sshd at, from their laptops"
    )
    account: str = Field(
        default=DEFAULT_ACCOUNT,
        description="The gateway account labctl adds to this host (no shell, no password); "
        "every lab's attendee key is an entry of its keys file",
        json_schema_extra={"pattern": _ACCOUNT_RE.pattern},
    )
    sshd_config: str = Field(
        default=DEFAULT_SSHD_CONFIG,
        description="This host's sshd configuration; it must include <its folder>/"
        "sshd_config.d/*.conf (Debian, Ubuntu, Fedora and macOS do by default)",
    )
    local_api_port: int = Field(
        default=DEFAULT_LOCAL_API_PORT,
        ge=1024,
        le=65535,
        description="The port on the attendee's laptop the API server is forwarded to",
    )

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str) -> str:
        split_gateway(value)
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _ACCOUNT_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not a portable account name; use lowercase letters, digits, "
                "'_' and '-' (at most 31), starting with a letter or '_', e.g. labctl-gw"
            )
        if value == "root":
            raise ValueError("the gateway account cannot be root; use e.g. labctl-gw")
        return value

    @field_validator("sshd_config")
    @classmethod
    def _sshd_config(cls, value: str) -> str:
        if not value.startswith("/") or not re.match(r"^[A-Za-z0-9._/+-]+$", value):
            raise ValueError(
                f"{quoted(value)} is not an absolute path without spaces or quotes, e.g. "
                f"{DEFAULT_SSHD_CONFIG}"
            )
        return value

    @property
    def host(self) -> str:
        return split_gateway(self.gateway)[0]

    @property
    def port(self) -> int:
        return split_gateway(self.gateway)[1]

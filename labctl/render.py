"""Plan -> the files Vagrant and Ansible read (pure: returns text, writes nothing), and the
OpenSSH command lines that reach a machine.

Templates use StrictUndefined, so a name missing from the context fails loudly instead of
rendering an empty string into a Vagrantfile.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import jinja2

from labctl import __version__, resources

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import PurePath, PurePosixPath

    from labctl.plan import Plan
    from labctl.tools.ssh import SshTarget


@dataclass(frozen=True)
class LabPaths:
    """Where a lab's files live on the controller; rendered into vars, so passed in, not probed."""

    lab_dir: PurePosixPath

    @property
    def token_file(self) -> PurePosixPath:
        return self.lab_dir / "secrets" / "k3s-token"

    @property
    def gitlab_password_file(self) -> PurePosixPath:
        return self.lab_dir / "secrets" / "gitlab-root-password"

    @property
    def argocd_password_file(self) -> PurePosixPath:
        """Written by the argocd role from argocd-initial-admin-secret."""
        return self.lab_dir / "secrets" / "argocd-admin-password"

    @property
    def gitlab_credentials_file(self) -> PurePosixPath:
        """Written by the gitlab role: URL, user and password for the learner."""
        return self.lab_dir / "secrets" / "gitlab-credentials"

    @property
    def gitlab_api_token_file(self) -> PurePosixPath:
        """Written by the gitlab role: the token the GitOps demo pushes with."""
        return self.lab_dir / "secrets" / "gitlab-api-token"


def machine_marker(lab_dir: PurePath) -> str:
    """What each VirtualBox VM and libvirt domain carries as its description: which lab directory
    created it, so machines whose directory lost its `.vagrant/` (a CI checkout's clean) are
    recognised as this lab's own. A digest: no user path on the hypervisor, nothing XML or a
    shell would read specially (vagrant-libvirt writes the description into the domain XML as is).
    """
    import hashlib  # noqa: PLC0415

    # as_posix: render sees the lab directory as a PurePosixPath, providers as a Path.
    return "labctl-lab-" + hashlib.sha256(lab_dir.as_posix().encode()).hexdigest()[:20]


def _to_yaml_value(value: Any) -> str:
    """A scalar or list as YAML flow text; JSON is valid YAML and quotes what needs quoting."""
    return json.dumps(value)


def ruby_string(value: Any) -> str:
    """A Ruby double-quoted literal: JSON's escaping, plus `#` escaped so that `#{...}` in a
    spec value stays text instead of running as Ruby inside the Vagrantfile."""
    return json.dumps(value).replace("#", "\\#")


@cache
def environment(*, html: bool = False, extra: tuple[str, ...] = ()) -> jinja2.Environment:
    """labctl's templates, then `extra` directories (a plug-in provider's own templates);
    `html=True` escapes every value (reports and handouts)."""
    searched = [str(resources.data_dir()), str(resources.templates_dir()), *extra]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(searched),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Ruby, YAML and INI must not be HTML-escaped; HTML always is.
        autoescape=html,  # noqa: S701
    )
    env.filters["y"] = _to_yaml_value
    env.filters["rb"] = ruby_string
    return env


# Ansible's `architecture` fact -> the architecture name K3s's release assets use.
ANSIBLE_ARCH_NAMES: Mapping[str, str] = {"x86_64": "amd64", "aarch64": "arm64"}


def group_vars(plan: Plan, paths: LabPaths) -> dict[str, Any]:
    """Lab-level facts for every Ansible host, all prefixed `labctl_` (the playbooks' contract)."""
    lab = plan.lab
    return {
        "labctl_lab_name": lab.name,
        "labctl_lab_dir": str(paths.lab_dir),
        "labctl_network_cidr": plan.network.cidr,
        "labctl_hosts": [{"name": m.name, "ip": m.ip, "role": m.role.value} for m in plan.machines],
        "labctl_k3s_version": lab.k3s.version,
        "labctl_k3s_disable": list(lab.k3s.disable),
        "labctl_k3s_server_args": list(lab.k3s.server_args),
        "labctl_k3s_agent_args": list(lab.k3s.agent_args),
        "labctl_k3s_datastore": plan.datastore,
        "labctl_k3s_primary": plan.primary.name,
        "labctl_k3s_api_ip": plan.primary.ip,
        "labctl_k3s_token_file": str(paths.token_file),
        "labctl_offline_dir": None,
        "labctl_argocd_enabled": lab.addons.argocd.enabled,
        "labctl_argocd_version": lab.addons.argocd.version,
        "labctl_argocd_host": f"argocd.{lab.name}.lab",
        "labctl_gitlab_enabled": lab.addons.gitlab.enabled,
        "labctl_gitlab_version": lab.addons.gitlab.version,
        "labctl_gitlab_root_password_file": str(paths.gitlab_password_file),
        "labctl_gitlab_api_token_file": str(paths.gitlab_api_token_file),
        "labctl_gitlab_credentials_file": str(paths.gitlab_credentials_file),
        "labctl_argocd_password_file": str(paths.argocd_password_file),
        # The machine's own architecture from Ansible's facts, in K3s's release names, so the
        # roles fetch the matching binary and airgap images (an arm64 box on an Apple Silicon
        # Mac or an arm64 hypervisor gets k3s-arm64). An unlisted one passes through unchanged
        # and the roles' argument specs refuse it by name.
        "labctl_arch_names": dict(ANSIBLE_ARCH_NAMES),
        "labctl_arch": "{{ labctl_arch_names.get(ansible_facts['architecture'], "
        "ansible_facts['architecture']) }}",
    }


def render(plan: Plan, paths: LabPaths) -> Mapping[str, str]:
    """Every file of the lab directory, by path relative to it."""
    env = environment(extra=tuple(str(d) for d in plan.provider.template_dirs()))
    lab = plan.lab
    context = {
        **plan.provider.vagrant_context(lab),
        "plan": plan,
        "lab": lab,
        "provider": plan.provider,
        "version": __version__,
        "group_vars": group_vars(plan, paths),
        "machine_marker": machine_marker(paths.lab_dir),
    }
    files = {
        "inventory/hosts.yml": env.get_template("inventory.yml.j2").render(context),
        "inventory/group_vars/all.yml": env.get_template("group_vars.yml.j2").render(context),
        "ansible.cfg": env.get_template("ansible.cfg.j2").render(context),
    }
    if plan.provider.boots_machines:  # machines that exist already need no Vagrantfile
        files = {"Vagrantfile": env.get_template("Vagrantfile.j2").render(context), **files}
    return files


# OpenSSH for `labctl ssh`, Ansible and the handouts must reach a machine as labctl's own SSH
# does: the lab's known_hosts only, keys pinned under the machine's name, and a machine behind a
# jump host through it, the jump host's key pinned and checked the same way. The jump is a
# ProxyCommand of `ssh -W %h:%p`, not ProxyJump: ProxyJump's inner ssh ignores the command
# line's -o options, so it would check the jump host's key against ~/.ssh/known_hosts.

# What every connection says besides where it goes: a changed key is refused, a new one pinned.
_CHECKED = ("-o", "HashKnownHosts=no", "-o", "StrictHostKeyChecking=accept-new")


def ssh_option(name: str, value: str) -> str:
    """`Name=value` for `ssh -o`, the value quoted the way OpenSSH splits option arguments.

    OpenSSH splits a UserKnownHostsFile value on spaces into several files, so a lab under
    "C:\\Users\\John Smith" or iCloud's "Mobile Documents" pinned nothing. Inside double
    quotes it takes backslash-escaped backslashes and quotes; plain values stay unquoted.
    """
    if not any(c in value for c in " \t\"'\\"):
        return f"{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def _login(target: SshTarget) -> list[str]:
    """-i (with IdentitiesOnly) and -p for `target`; no -i means the user's agent and keys."""
    key = ["-i", str(target.key_file), "-o", "IdentitiesOnly=yes"] if target.key_file else []
    return [*key, "-p", str(target.port)]


def proxy_command(jump: SshTarget, known_hosts: str) -> str:
    """The ProxyCommand that reaches a machine through `jump`, pinning the jump host's key in
    the lab's known_hosts under its name. ssh runs it through the user's shell after expanding
    %-tokens, so each word is shell-quoted and every literal % doubled."""
    argv = [
        "ssh", *_login(jump), "-o", ssh_option("UserKnownHostsFile", known_hosts),
        "-o", f"HostKeyAlias={jump.name}", *_CHECKED, "-o", "BatchMode=yes",
        "-o", "LogLevel=ERROR", f"{jump.user}@{jump.host}",
    ]  # fmt: skip
    words = [shlex.quote(word).replace("%", "%%") for word in argv]
    return " ".join([*words[:-1], "-W", "%h:%p", words[-1]])


def jump_options(target: SshTarget, known_hosts: str) -> list[str]:
    """`-o ProxyCommand=…` for a machine behind a jump host; nothing for a direct one."""
    if target.jump is None:
        return []
    return ["-o", f"ProxyCommand={proxy_command(target.jump, known_hosts)}"]


def ssh_argv(target: SshTarget, known_hosts: str) -> list[str]:
    """`ssh …` up to and including the destination, as `labctl ssh` runs it."""
    return [
        "ssh", *_login(target), "-o", ssh_option("UserKnownHostsFile", known_hosts),
        # Pinned under the machine's name, as Ansible's inventory and labctl's own SSH pin it:
        # an address a provider hands to another machine later is not this machine's key.
        "-o", f"HostKeyAlias={target.name}", *_CHECKED, *jump_options(target, known_hosts),
        "-o", "LogLevel=ERROR", f"{target.user}@{target.host}",
    ]  # fmt: skip


def ssh_forward_argv(
    target: SshTarget, known_hosts: str, local_port: int, remote: str
) -> list[str]:
    """`ssh -N -L 127.0.0.1:PORT:REMOTE` to `target` (through its jump host, if any): a local
    port that reaches `remote` as the machine sees it, until ssh is stopped."""
    argv = ssh_argv(target, known_hosts)
    forward = ["-N", "-o", "ExitOnForwardFailure=yes", "-L", f"127.0.0.1:{local_port}:{remote}"]
    return [*argv[:-1], *forward, argv[-1]]


def ssh_inventory(
    targets: Mapping[str, SshTarget], known_hosts: PurePosixPath, *, pinned_first: bool = False
) -> str:
    """inventory/ssh.yml: how Ansible reaches each machine, from `vagrant ssh-config`.

    Host keys go to the lab's own known_hosts (first use is trusted, a change is refused);
    never to ~/.ssh/known_hosts, and never with checking switched off. A machine behind a jump
    host is reached through it (a ProxyCommand that pins the jump host's key the same way).
    `pinned_first`: the user's own machines, whose keys preflight pinned after asking, so an
    unknown key is refused here too.
    """
    strict = "yes" if pinned_first else "accept-new"
    lines = [
        "# Written by labctl from lab.yaml's machines; rewritten on every `up`."
        if pinned_first
        else "# Written by labctl after boot from `vagrant ssh-config`; rewritten on every boot.",
        "all:",
        "  vars:",
        "    ansible_ssh_common_args: "
        + _to_yaml_value(
            # Ansible shlex-splits these args: the option is one shell word, quoted for OpenSSH
            f"-o {shlex.quote(ssh_option('UserKnownHostsFile', str(known_hosts)))} "
            # Under the machine's name in clear, as labctl ssh and labctl's own SSH write it
            # (Debian's and Ubuntu's ssh_config hash names by default).
            f"-o HashKnownHosts=no -o StrictHostKeyChecking={strict}"
        ),
        "  hosts:",
    ]
    for name in sorted(targets):
        target = targets[name]
        # Pinned by machine, not by address: forwarded ports move between boots. Ansible
        # shlex-splits these args, so each is one shell word.
        extra = ["-o", f"HostKeyAlias={name}", *jump_options(target, str(known_hosts))]
        lines += [
            f"    {name}:",
            f"      ansible_host: {_to_yaml_value(target.host)}",
            f"      ansible_port: {target.port}",
            f"      ansible_user: {_to_yaml_value(target.user)}",
        ]
        if target.key_file is not None:  # else the user's agent and default keys
            key = _to_yaml_value(str(target.key_file))
            lines.append(f"      ansible_ssh_private_key_file: {key}")
        lines.append(f"      ansible_ssh_extra_args: {_to_yaml_value(shlex.join(extra))}")
    return "\n".join(lines) + "\n"

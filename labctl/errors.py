"""The one error hierarchy of labctl, and the exit codes it maps to.

Every failure a user can cause is a LabctlError: it carries what failed, what to do about it and
the documented exit code. It is caught in exactly one place, the CLI entry (labctl.cli.app).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from labctl.messages import capped


class ExitCode(IntEnum):
    """Documented, stable exit codes (README: "Exit codes")."""

    OK = 0
    INTERNAL = 1
    INVALID_INPUT = 2
    PREFLIGHT = 3
    BOOT = 4
    PROVISION = 5
    CHECKS_FAILED = 6
    LOCKED = 7
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM: a CI runner cancelling the step, or `kill`


class LabctlError(Exception):
    """A failure with a message for the user, a hint on what to do, and an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(
        self,
        message: str,
        hint: str = "",
        exit_code: ExitCode | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []
        if exit_code is not None:
            self.exit_code = exit_code

    def lines(self) -> list[str]:
        """The lines the CLI prints, without the `error:` prefix: the message, then details."""
        return [self.message, *self.details]


class UsageError(LabctlError):
    """A command was called with arguments that do not fit."""

    exit_code = ExitCode.INVALID_INPUT


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a lab spec, located as precisely as the YAML allows."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class SpecError(LabctlError):
    """The lab spec is invalid: one or more problems, each on its own line."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, problems: list[SpecProblem], hint: str = "") -> None:
        self.problems = problems
        count = len(problems)
        summary = str(problems[0]) if count == 1 else f"{count} problems in the lab spec"
        super().__init__(summary, hint)

    def lines(self) -> list[str]:
        return capped([str(p) for p in self.problems])


class RenderError(LabctlError):
    """The lab directory could not be written."""

    exit_code = ExitCode.INTERNAL


class NotRootError(LabctlError):
    """An action changes the host (bridges, NAT, LXC containers) and needs root."""

    exit_code = ExitCode.PREFLIGHT


class HostCommandError(LabctlError):
    """A host tool (debootstrap, ip, iptables, tar, vagrant box add) failed; carries its stderr."""

    exit_code = ExitCode.PREFLIGHT


class GatewayError(HostCommandError):
    """The host's sshd could not be made the attendees' gateway, or the change undone."""


class BoxBuildError(HostCommandError):
    """Building or adding a Vagrant box failed."""


class HostNetworkError(HostCommandError):
    """The lab's host bridge or its NAT rule could not be set up or removed."""


class SshError(LabctlError):
    """A machine could not be reached or used over SSH (labctl.tools.ssh)."""

    exit_code = ExitCode.BOOT


class SshUnreachableError(SshError):
    """Connecting kept failing (refused, timed out, no SSH banner) until the retries ran out."""


class SshAuthError(SshError):
    """The machine answered but refused the key `vagrant ssh-config` named."""


class HostKeyMismatchError(SshError):
    """The machine's host key differs from the one this lab's known_hosts recorded first."""


class HostKeyUnknownError(SshError):
    """A machine the user owns offered a host key this lab has not been told to trust."""


class CommandTimeoutError(SshError):
    """A command ran longer than its timeout; its channel was closed, the connection kept."""


class StateError(LabctlError):
    """The lab's saved state cannot be read."""

    exit_code = ExitCode.INVALID_INPUT


class PreflightError(LabctlError):
    """The host cannot run this lab: a tool, a provider, memory or disk is missing."""

    exit_code = ExitCode.PREFLIGHT


class BootError(LabctlError):
    """Vagrant could not create, boot or describe a machine."""

    exit_code = ExitCode.BOOT


class ProvisionError(LabctlError):
    """An Ansible phase failed on one or more machines."""

    exit_code = ExitCode.PROVISION


class ControllerError(ProvisionError):
    """The in-lab Ansible controller (`controller: lab`) could not be made or reached: its
    machine's Python, the wheels of its venv, or the copy of the project."""


class ChecksFailedError(LabctlError):
    """The lab came up but one or more smoke checks failed."""

    exit_code = ExitCode.CHECKS_FAILED


class LockedError(LabctlError):
    """Another labctl holds this lab's lock."""

    exit_code = ExitCode.LOCKED


class InterruptedByUserError(LabctlError):
    """The user pressed Ctrl-C; state was saved and the next `up` resumes."""

    exit_code = ExitCode.INTERRUPTED


class PreflightFailedError(PreflightError):
    """`labctl doctor` found the host unfit for the lab: one line per failing check, keyed by id.

    `failed` maps each check id (what `--skip-preflight ID` takes) to its line, so the CLI prints
    every problem at once and a JSON event can name the ids.
    """

    def __init__(self, failed: dict[str, str], hint: str = "") -> None:
        self.failed = dict(failed)
        count = len(self.failed)
        noun = "check" if count == 1 else "checks"
        super().__init__(f"{count} preflight {noun} failed: {', '.join(self.failed)}", hint)

    def lines(self) -> list[str]:
        return [f"{check}: {text}" for check, text in self.failed.items()]


class KubeconfigError(LabctlError):
    """A kubeconfig (the lab's or the user's) is missing, unreadable or not shaped as expected."""

    exit_code = ExitCode.INVALID_INPUT


class LogsError(LabctlError):
    """There are no logs to show, or they cannot be read or packed safely."""

    exit_code = ExitCode.INVALID_INPUT


class SnapshotError(LabctlError):
    """Saving, restoring or deleting a lab snapshot failed on the machines (labctl.lab.snapshot)."""

    exit_code = ExitCode.BOOT


class SnapshotNotFoundError(SnapshotError):
    """The lab has no snapshot of that name, or the snapshot name is not a valid one."""

    exit_code = ExitCode.INVALID_INPUT


class BundleError(LabctlError):
    """The offline bundle is incomplete or corrupt, or a file could not be fetched into it."""

    exit_code = ExitCode.INVALID_INPUT


class LessonFileError(SpecError):
    """A lesson's files (lesson.yaml, en.md, ko.md) are invalid: one located line per problem."""

    def __init__(self, problems: list[SpecProblem], hint: str = "") -> None:
        super().__init__(problems, hint)
        if len(problems) > 1:
            self.message = f"{len(problems)} problems in lesson files"


class LessonStateError(StateError):
    """No lesson is started, or the lesson named does not exist or does not fit this lab."""

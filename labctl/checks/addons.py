"""Checks of the addons: Argo CD behind Traefik, GitLab, and GitOps between them.

Passwords and the GitLab API token go to commands on stdin; the commands print only HTTP codes
and public facts, so no secret is ever in a command line, a record or a report.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from labctl.checks.demo import (
    ARGOCD_APPLICATION,
    ARGOCD_NAMESPACE,
    DEMO_DEPLOYMENT,
    DEMO_NAMESPACE,
    GITLAB_BRANCH,
    GITLAB_MANIFEST,
    GITLAB_PROJECT,
    argocd_host,
)
from labctl.checks.kube import json_stream, kubectl, need, need_json, need_ok
from labctl.checks.model import (
    CheckCannotRunError,
    Context,
    Poll,
    Records,
    Status,
    Step,
    Target,
    Verdict,
    fixed,
    judging,
)
from labctl.checks.workloads import TRAEFIK_SERVICE_STEP, replicas, traefik_address

if TYPE_CHECKING:
    from labctl.plan import Plan
    from labctl.tools.ssh import CommandResult

GITOPS_WITHIN_S = 240.0
_CODE = "-w '{\"http_code\": %{http_code}}'"


def _http_code(records: Records, key: str) -> int | None:
    values = [v for v in json_stream(need_ok(records, key).result.stdout) if isinstance(v, dict)]
    code = values[-1].get("http_code") if values else None
    return int(code) if isinstance(code, int) else None


def _secret(value: str | None, what: str) -> str:
    if not value:
        raise CheckCannotRunError(f"the saved {what} was not found in the lab directory")
    return value


# ---------------------------------------------------------------- argocd


def _argocd_url(ctx: Context, path: str) -> str:
    address = traefik_address(ctx.records, ctx.plan)
    return f"-H {shlex.quote('Host: ' + argocd_host(ctx.plan.name))} http://{address}{path}"


ARGOCD_STEPS = (
    TRAEFIK_SERVICE_STEP,
    Step(
        "version",
        Target.PRIMARY,
        lambda ctx: f"curl -sS -m 10 {_argocd_url(ctx, '/api/version')}",
        timeout=20,
    ),
    Step(
        "login",
        Target.PRIMARY,
        lambda ctx: (
            f"curl -sS -m 15 -o /dev/null {_CODE} -H 'Content-Type: application/json' "
            f"--data-binary @- {_argocd_url(ctx, '/api/v1/session')}"
        ),
        stdin=lambda ctx: json.dumps(
            {
                "username": "admin",
                "password": _secret(
                    ctx.credentials.argocd_admin_password, "Argo CD admin password"
                ),
            }
        ),
        timeout=25,
    ),
)


@judging
def judge_argocd(records: Records, plan: Plan) -> Verdict:
    """Argo CD's API answers through its Ingress and accepts the saved admin password."""
    version = need_json(records, "version")
    where = f"Argo CD at http://{argocd_host(plan.name)}"
    if not isinstance(version, dict) or "Version" not in version:
        return Verdict(Status.FAILED, f"{where}/api/version did not answer like Argo CD")
    code = _http_code(records, "login")
    if code == 200:
        return Verdict(Status.PASSED, f"{where} ({version['Version']}): admin login works")
    why = " (the saved password is wrong)" if code in (401, 403) else ""
    return Verdict(Status.FAILED, f"{where}: admin login returned HTTP {code}{why}")


# ---------------------------------------------------------------- gitlab

GITLAB_STEPS = (
    Step("readiness", Target.GITLAB, fixed("curl -sS -m 10 http://127.0.0.1/-/readiness")),
    Step(
        "signin",
        Target.GITLAB,
        fixed(
            f"curl -sS -m 20 -o /dev/null {_CODE} -H 'Content-Type: application/json' "
            "--data-binary @- http://127.0.0.1/oauth/token"
        ),
        stdin=lambda ctx: json.dumps(
            {
                "grant_type": "password",
                "username": "root",
                "password": _secret(ctx.credentials.gitlab_root_password, "GitLab root password"),
            }
        ),
        timeout=30,
    ),
)


@judging
def judge_gitlab(records: Records, plan: Plan) -> Verdict:
    """GitLab's readiness probe says ok and root signs in with the saved password."""
    machine = plan.gitlab.name if plan.gitlab else "gitlab"
    ready = need_json(records, "readiness")
    if not isinstance(ready, dict) or ready.get("status") != "ok":
        failing = [
            key
            for key, value in (ready.items() if isinstance(ready, dict) else [])
            if isinstance(value, list) and any(c.get("status") != "ok" for c in value)
        ]
        detail = f": {', '.join(failing)} not ok" if failing else ""
        return Verdict(Status.FAILED, f"GitLab on {machine} is not ready{detail}")
    code = _http_code(records, "signin")
    if code == 200:
        return Verdict(Status.PASSED, f"GitLab on {machine} is ready; root signs in")
    why = " (the saved password is wrong)" if code in (400, 401) else ""
    return Verdict(Status.FAILED, f"GitLab on {machine}: root sign-in returned HTTP {code}{why}")


# ---------------------------------------------------------------- gitops

# Runs on the GitLab machine: sets `replicas:` in the demo manifest through GitLab's API and
# prints {"from": n, "to": m}. The token arrives on stdin's first line, the target count on its
# second; the regular expression edits the one field, the judge never reads this text.
_COMMIT_SCRIPT = r"""
import json, re, sys, urllib.parse, urllib.request
token, wanted = sys.stdin.read().split()
branch = BRANCH
project = urllib.parse.quote(PROJECT, safe="")
path = urllib.parse.quote(MANIFEST, safe="")
api = f"http://127.0.0.1/api/v4/projects/{project}/repository/files/{path}"
head = {"PRIVATE-TOKEN": token}
req = urllib.request.Request(f"{api}/raw?ref={branch}", headers=head)
text = urllib.request.urlopen(req, timeout=20).read().decode()
found = re.search(r"^(\s*replicas:\s*)(\d+)", text, re.M)
new = text[: found.start(2)] + wanted + text[found.end(2):]
body = json.dumps({"branch": branch, "content": new,
                   "commit_message": f"labctl gitops check: replicas {found.group(2)} -> {wanted}"})
req = urllib.request.Request(api, data=body.encode(), method="PUT",
                             headers={**head, "Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=20).read()
print(json.dumps({"from": int(found.group(2)), "to": int(wanted)}))
"""


def _commit_command(_ctx: Context) -> str:
    script = (
        _COMMIT_SCRIPT.replace("PROJECT", json.dumps(GITLAB_PROJECT))
        .replace("MANIFEST", json.dumps(GITLAB_MANIFEST))
        .replace("BRANCH", json.dumps(GITLAB_BRANCH))
    )
    return f"python3 -c {shlex.quote(script)}"


def _original(records: Records) -> int:
    return replicas(need_json(records, "deployment"))[0]


def _commit_stdin(target: str) -> Step:
    """A commit step setting replicas to the original + 1 ("change") or back ("revert")."""

    def stdin(ctx: Context) -> str:
        token = _secret(ctx.credentials.gitlab_api_token, "GitLab API token")
        original = _original(ctx.records)
        return f"{token}\n{original + 1 if target == 'change' else original}\n"

    return Step(target, Target.GITLAB, _commit_command, stdin=stdin, timeout=60)


def _refresh(name: str) -> Step:
    """Ask Argo CD to look at Git now instead of at its next poll (up to 3 minutes away)."""
    return Step(
        name,
        Target.PRIMARY,
        fixed(
            kubectl(
                "annotate",
                "applications.argoproj.io",
                ARGOCD_APPLICATION,
                "-n",
                ARGOCD_NAMESPACE,
                "argocd.argoproj.io/refresh=normal",
                "--overwrite",
            )
        ),
    )


def _rolled_out(step: str) -> Poll:
    def done(result: CommandResult, ctx: Context) -> bool:
        if not result.ok:
            return False
        wanted = _original(ctx.records) + (1 if step == "applied" else 0)
        return replicas(json.loads(result.stdout)) == (wanted, wanted)

    return Poll(done, within=GITOPS_WITHIN_S, every=5.0)


def _deployment_step(name: str, poll: Poll | None = None) -> Step:
    return Step(
        name,
        Target.PRIMARY,
        fixed(kubectl("get", "deployment", DEMO_DEPLOYMENT, "-n", DEMO_NAMESPACE, "-o", "json")),
        poll=poll,
    )


GITOPS_STEPS = (
    Step(
        "application",
        Target.PRIMARY,
        fixed(
            kubectl(
                "get",
                "applications.argoproj.io",
                ARGOCD_APPLICATION,
                "-n",
                ARGOCD_NAMESPACE,
                "-o",
                "json",
            )
        ),
    ),
    _deployment_step("deployment"),
    _commit_stdin("change"),
    _refresh("refresh"),
    _deployment_step("applied", _rolled_out("applied")),
    _commit_stdin("revert"),
    _refresh("refresh-back"),
    _deployment_step("restored", _rolled_out("restored")),
)


@judging
def judge_gitops(records: Records, _plan: Plan) -> Verdict:
    """The Application is Synced and Healthy; a commit changing replicas reaches the cluster
    within the bound, and so does the commit changing them back."""
    app = need_json(records, "application")
    status = app.get("status", {}) if isinstance(app, dict) else {}
    sync = status.get("sync", {}).get("status", "Unknown")
    health = status.get("health", {}).get("status", "Unknown")
    label = f"Application {ARGOCD_NAMESPACE}/{ARGOCD_APPLICATION}"
    if (sync, health) != ("Synced", "Healthy"):
        return Verdict(Status.FAILED, f"{label} is {sync} and {health}, not Synced and Healthy")
    original = _original(records)
    applied_in = 0.0
    for step, commit, wanted in (
        ("applied", "change", original + 1),
        ("restored", "revert", original),
    ):
        committed = need_ok(records, commit)
        record = need(records, step)
        got = replicas(need_json(records, step))
        took = record.finished_at - committed.started_at
        if got != (wanted, wanted):
            return Verdict(
                Status.FAILED,
                f"a commit setting replicas to {wanted} was not applied within "
                f"{GITOPS_WITHIN_S:.0f} s (deployment wants {got[0]}, {got[1]} available)",
            )
        if step == "applied":
            applied_in = took
    return Verdict(
        Status.PASSED,
        f"{label} Synced and Healthy; a commit to {GITLAB_PROJECT} set replicas "
        f"{original} -> {original + 1} in {applied_in:.0f} s, and back",
    )

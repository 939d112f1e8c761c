#!/usr/bin/env python3
"""gitlab-fake API: a TEST DOUBLE of the few GitLab endpoints labctl's roles call. It is not GitLab.

GitLab omnibus cannot be downloaded where labctl's tests run. This serves, on port 80, what the
gitlab and gitops_demo roles (and k3s-fake's Argo CD stand-in) use, with GitLab's parameter
types and answers where things go wrong:

  GET  /-/readiness                                     200 once started
  GET  /api/v4/user                                     200 for an active token, else 401
  GET  /api/v4/projects/:id                             200, or 404 (also for a project the
                                                        caller may not see)
  POST /api/v4/projects                                 201; name required, visibility checked
  GET  /api/v4/projects/:id/repository/files/:path/raw  raw content, or 404
  GET  /api/v4/projects/:id/repository/tree             the files under ?path=
  POST /api/v4/projects/:id/repository/commits          201; `actions` must be an Array (a string
                                                        is 400 "actions is invalid", as Grape
                                                        answers), create on an existing file and
                                                        update on a missing one are 400

Tokens are checked as GitLab does: a revoked token or one whose expires_at is today or earlier
is refused with 401. Public projects are readable without a token. State lives in one JSON file
shared with the gitlab-rails stand-in (rails_env.rb), under a lock both take.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import sys
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator

STORE = Path(os.environ.get("GITLAB_FAKE_STORE", "/var/opt/gitlab-fake/store.json"))
VISIBILITIES = ("private", "internal", "public")
ACTIONS = ("create", "delete", "move", "update", "chmod")


@contextmanager
def store() -> Iterator[dict[str, Any]]:
    """The shared state, locked; written back (atomically) when the block ends without error."""
    with Path(f"{STORE}.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, Any] = json.loads(STORE.read_text())
        yield data
        tmp = STORE.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(STORE)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def active(row: dict[str, Any]) -> bool:
    if row.get("revoked"):
        return False
    expires = row.get("expires_at")
    return not expires or datetime.date.fromisoformat(expires) > datetime.date.today()


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class Api(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write(f"gitlab-fake: {fmt % args}\n")

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/-/readiness":
                self.reply(200, {"status": "ok", "master_check": [{"status": "ok"}]})
                return
            if not url.path.startswith("/api/v4/"):
                raise ApiError(404, {"message": "404 Not Found"})
            parts = [unquote(p) for p in url.path[len("/api/v4/") :].split("/")]
            body = self.json_body() if method == "POST" else {}
            with store() as data:
                user = self.caller(data)
                status, answer = route(data, user, method, parts, query, body)
            if isinstance(answer, str):
                self.reply_text(status, answer)
            else:
                self.reply(status, answer)
        except ApiError as problem:
            self.reply(problem.status, problem.body)

    def json_body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise ApiError(400, {"error": "The provided content-type is not supported"}) from None
        if not isinstance(value, dict):
            raise ApiError(400, {"error": "body is invalid"})
        return value

    def caller(self, data: dict[str, Any]) -> str | None:
        token = self.headers.get("PRIVATE-TOKEN")
        if token is None:
            return None
        row = next((t for t in data["tokens"] if t["digest"] == digest(token)), None)
        if row is None or not active(row):
            raise ApiError(401, {"message": "401 Unauthorized"})
        return str(row["user"])

    def reply(self, status: int, body: object) -> None:
        self.reply_text(status, json.dumps(body), "application/json")

    def reply_text(self, status: int, text: str, kind: str = "text/plain") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def route(
    data: dict[str, Any],
    user: str | None,
    method: str,
    parts: list[str],
    query: dict[str, str],
    body: dict[str, Any],
) -> tuple[int, object]:
    if parts == ["user"] and method == "GET":
        if user is None:
            raise ApiError(401, {"message": "401 Unauthorized"})
        return 200, {"id": 1, "username": user, "is_admin": user == "root"}
    if parts == ["projects"] and method == "POST":
        return create_project(data, user, body)
    if parts[:1] != ["projects"] or len(parts) < 2:
        raise ApiError(404, {"error": "404 Not Found"})
    project = data["projects"].get(parts[1])
    if project is None or (project["visibility"] != "public" and user is None):
        raise ApiError(404, {"message": "404 Project Not Found"})
    rest = parts[2:]
    if not rest and method == "GET":
        return 200, {"path_with_namespace": parts[1], **project_info(project)}
    if rest[:2] == ["repository", "files"] and rest[-1:] == ["raw"] and method == "GET":
        path = "/".join(rest[2:-1])
        if path not in project["files"] or query.get("ref", "main") != project["default_branch"]:
            raise ApiError(404, {"message": "404 File Not Found"})
        return 200, str(project["files"][path])
    if rest == ["repository", "tree"] and method == "GET":
        prefix = query.get("path", "").strip("/")
        names = sorted(p for p in project["files"] if p.rsplit("/", 1)[0] == prefix)
        return 200, [{"name": p.rsplit("/", 1)[-1], "path": p, "type": "blob"} for p in names]
    if rest == ["repository", "commits"] and method == "POST":
        if user is None:
            raise ApiError(401, {"message": "401 Unauthorized"})
        return commit(project, body)
    raise ApiError(404, {"error": "404 Not Found"})


def project_info(project: dict[str, Any]) -> dict[str, Any]:
    return {k: project[k] for k in ("id", "name", "visibility", "default_branch")}


def create_project(
    data: dict[str, Any], user: str | None, body: dict[str, Any]
) -> tuple[int, object]:
    if user is None:
        raise ApiError(401, {"message": "401 Unauthorized"})
    name = body.get("name") or body.get("path")
    if not isinstance(name, str) or not name:
        missing = "name, path are missing, at least one parameter must be provided"
        raise ApiError(400, {"error": missing})
    visibility = body.get("visibility", "private")
    if visibility not in VISIBILITIES:
        raise ApiError(400, {"error": "visibility does not have a valid value"})
    key = f"{user}/{name}"
    if key in data["projects"]:
        raise ApiError(400, {"message": {"name": ["has already been taken"]}})
    project = {
        "id": len(data["projects"]) + 1,
        "name": name,
        "visibility": visibility,
        "default_branch": str(body.get("default_branch") or "main"),
        "files": {},
        "commits": 0,
    }
    data["projects"][key] = project
    return 201, {"path_with_namespace": key, **project_info(project)}


def commit(project: dict[str, Any], body: dict[str, Any]) -> tuple[int, object]:
    for required in ("branch", "commit_message", "actions"):
        if required not in body:
            raise ApiError(400, {"error": f"{required} is missing"})
    actions = body["actions"]
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        raise ApiError(400, {"error": "actions is invalid"})
    if not actions:
        raise ApiError(400, {"error": "actions is required"})
    if body["branch"] != project["default_branch"]:
        wrong = "You can only create or edit files when you are on a branch"
        raise ApiError(400, {"message": wrong})
    files = dict(project["files"])
    for action in actions:
        kind, path = action.get("action"), action.get("file_path")
        if kind not in ACTIONS:
            raise ApiError(400, {"error": "actions[action] does not have a valid value"})
        if not isinstance(path, str) or not path:
            raise ApiError(400, {"error": "actions[file_path] is missing"})
        if kind == "create" and path in files:
            raise ApiError(400, {"message": "A file with this name already exists"})
        if kind in ("update", "delete") and path not in files:
            raise ApiError(400, {"message": "A file with this name doesn't exist"})
        if kind == "delete":
            del files[path]
        else:
            files[path] = str(action.get("content", ""))
    project["files"] = files
    project["commits"] += 1
    return 201, {"id": f"{project['commits']:040x}", "message": body["commit_message"]}


def main() -> int:
    port = int(os.environ.get("GITLAB_FAKE_PORT", "80"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Api)  # noqa: S104 - the lab network
    sys.stderr.write(f"gitlab-fake: API on port {port}, state in {STORE}\n")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

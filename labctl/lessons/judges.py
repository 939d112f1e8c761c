"""The lesson judges: pure functions from one probe's recorded output to a Finding.

Each judge says what it reads (`Reads`), so the loader and a contract test can prove every
probe prints what its judge expects; its parameters are a pydantic model the lesson file fills
(`with:`). Parsing shares labctl.checks.kube with the smoke checks; the datastore probe is the
smoke check's own command. Cluster-wide judges live here, workload judges in judges_apps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from labctl.checks.kube import condition, labels_of, name_of, node_ready
from labctl.lessons.reading import need_answer, read_items, read_json
from labctl.lessons.verdicts import Finding, NotReadable, done, not_yet

if TYPE_CHECKING:
    from labctl.checks.model import StepRecord
    from labctl.lessons.kubectl import KubectlCall
    from labctl.plan import Plan

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Reads:
    """The command shape a judge reads: a kubectl verb and kinds, or a smoke check's probe."""

    verb: str  # get | exec | raw | shared
    kinds: tuple[str, ...] = ()
    named: bool | None = None  # True: `get KIND NAME`; False: a list; None: either
    json: bool = True
    shared: str | None = None
    raw_prefix: str | None = None
    all_kinds: bool = False  # `kubectl get nodes,pods`: every kind in one list

    def problem(  # noqa: PLR0911 - one return per rule of the contract, read as a table
        self, call: KubectlCall | None, shared: str | None
    ) -> str | None:
        """Why a probe's command is not one this judge can read, or None."""
        if self.verb == "shared":
            return None if shared == self.shared else f"reads the shared probe {self.shared!r}"
        if call is None:
            return f"reads `kubectl {self.verb} ...`, not a shared probe"
        if self.verb == "raw":
            if call.verb != "get" or not (call.raw or "").startswith(self.raw_prefix or ""):
                return f"reads `kubectl get --raw {self.raw_prefix}...`"
            return None
        if call.verb != self.verb:
            return f"reads `kubectl {self.verb} ...`, not `kubectl {call.verb}`"
        wanted, got = set(self.kinds), set(call.kinds)
        if wanted and (not got or not got <= wanted or (self.all_kinds and got != wanted)):
            return f"reads {','.join(self.kinds)}, not {','.join(call.kinds) or 'no kind'}"
        if self.named is True and not call.name:
            return "reads one named object: `kubectl get KIND NAME ...`"
        if self.named is False and call.name:
            return "reads a list: `kubectl get KIND ...` without a name"
        if self.json and call.output != "json":
            return "reads JSON: add `-o json`"
        return None


@dataclass(frozen=True)
class Seen:
    """One probe's record and its command taken apart (None for a shared probe)."""

    record: StepRecord
    call: KubectlCall | None
    plan: Plan
    answer: str | None

    @property
    def name(self) -> str:
        return (self.call.name if self.call else None) or "?"

    @property
    def namespace(self) -> str | None:
        return self.call.namespace if self.call else None


JudgeFn = Callable[[Seen, Any], Finding]


@dataclass(frozen=True)
class LessonJudge:
    """A judge as lesson files name it."""

    name: str
    reads: Reads
    fn: JudgeFn
    params: type[BaseModel] = NoParams
    wants_answer: bool = False


def run_judge(judge: LessonJudge, seen: Seen, params: BaseModel) -> Finding:
    """The judge's Finding; an output it cannot judge is a Finding that is not done."""
    try:
        return judge.fn(seen, params)
    except NotReadable as exc:
        return Finding(False, exc.said)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        text = f"{type(exc).__name__}: {exc}"
        return not_yet(f"unexpected output ({text})", f"예상하지 못한 출력입니다 ({text})")


# ---------------------------------------------------------------- nodes


def _nodes(seen: Seen) -> list[dict[str, Any]]:
    return [i for i in read_items(seen.record) if i.get("kind", "Node") == "Node"]


def nodes_ready(seen: Seen, _params: NoParams) -> Finding:
    nodes = _nodes(seen)
    ready = [name_of(n) for n in nodes if node_ready(n)]
    down = [name_of(n) for n in nodes if not node_ready(n)]
    if not nodes:
        return not_yet("the cluster lists no nodes", "클러스터에 노드가 하나도 없습니다")
    if down:
        return not_yet(
            f"{len(ready)} of {len(nodes)} nodes are Ready; {', '.join(down)} is NotReady; "
            "this step wants every node Ready",
            f"노드 {len(nodes)}개 중 {len(ready)}개만 Ready입니다 ({', '.join(down)}: NotReady). "
            "이 단계는 모든 노드가 Ready여야 합니다",
        )
    return done(
        f"{len(nodes)} of {len(nodes)} nodes are Ready: {', '.join(ready)}",
        f"노드 {len(nodes)}개가 모두 Ready입니다: {', '.join(ready)}",
    )


def node_notready(seen: Seen, _params: NoParams) -> Finding:
    nodes = _nodes(seen)
    down = [name_of(n) for n in nodes if not node_ready(n)]
    if not down:
        return not_yet(
            f"all {len(nodes)} nodes are still Ready; this step wants one agent NotReady "
            "(the node controller waits about 40 s after the kubelet goes quiet)",
            f"노드 {len(nodes)}개가 아직 모두 Ready입니다. 이 단계는 에이전트 하나가 NotReady여야 "
            "합니다 (kubelet이 멈춘 뒤 약 40초가 지나야 바뀝니다)",
        )
    why = (condition(next(n for n in nodes if name_of(n) == down[0]), "Ready") or {}).get(
        "message", ""
    )
    return done(f"{', '.join(down)} is NotReady ({why})", f"{', '.join(down)}: NotReady ({why})")


def control_plane_answer(seen: Seen, _params: NoParams) -> Finding:
    nodes = _nodes(seen)
    answer = need_answer(seen.answer, "NODE")
    servers = [name_of(n) for n in nodes if labels_of(n).get(CONTROL_PLANE_LABEL) == "true"]
    if answer in servers:
        return done(
            f"yes: {answer} carries the label {CONTROL_PLANE_LABEL}=true; it runs the K3s server",
            f"맞습니다: {answer}에는 {CONTROL_PLANE_LABEL}=true 레이블이 있고, "
            "K3s 서버가 이 노드에서 실행됩니다",
        )
    names = [name_of(n) for n in nodes]
    if answer not in names:
        return not_yet(
            f"there is no node {answer!r}; the nodes are {', '.join(names)}",
            f"{answer!r} 노드는 없습니다. 노드 목록: {', '.join(names)}",
        )
    return not_yet(
        f"{answer} has no {CONTROL_PLANE_LABEL} label: it is an agent; look at the ROLES column",
        f"{answer}에는 {CONTROL_PLANE_LABEL} 레이블이 없습니다. 에이전트 노드입니다. ROLES 열을 "
        "보세요",
    )


def _node_info_answer(field: str, seen: Seen, metavar: str) -> tuple[str, set[str]]:
    answer = need_answer(seen.answer, metavar)
    values = {str(n.get("status", {}).get("nodeInfo", {}).get(field, "")) for n in _nodes(seen)}
    return answer, values - {""}


def kubelet_version_answer(seen: Seen, _params: NoParams) -> Finding:
    answer, versions = _node_info_answer("kubeletVersion", seen, "VERSION")
    if answer in versions:
        return done(
            f"yes: the kubelet reports {answer}; the +k3s suffix shows it is built into the k3s "
            "binary, not a separate kubelet package",
            f"맞습니다: kubelet 버전은 {answer}입니다. +k3s 접미사는 kubelet이 별도 "
            "패키지가 아니라 k3s 바이너리 안에 들어 있다는 뜻입니다",
        )
    return not_yet(
        f"{answer!r} is not a kubelet version of this cluster; look at the VERSION column",
        f"{answer!r}은(는) 이 클러스터의 kubelet 버전이 아닙니다. VERSION 열을 보세요",
    )


def runtime_answer(seen: Seen, _params: NoParams) -> Finding:
    answer, runtimes = _node_info_answer("containerRuntimeVersion", seen, "RUNTIME")
    names = {r.split("://", 1)[0] for r in runtimes}
    if answer.split("://", 1)[0].lower() in names:
        shown = ", ".join(sorted(runtimes))
        return done(
            f"yes: the nodes run {shown}, the containerd K3s ships with",
            f"맞습니다: 노드들은 K3s에 포함된 containerd({shown})를 씁니다",
        )
    return not_yet(
        f"{answer!r} is not the runtime; look at the CONTAINER-RUNTIME column of -o wide",
        f"{answer!r}은(는) 런타임 이름이 아닙니다. -o wide의 CONTAINER-RUNTIME 열을 보세요",
    )


# ---------------------------------------------------------------- control plane and datastore


def datastore_answer(seen: Seen, _params: NoParams) -> Finding:
    files = read_json(seen.record)
    answer = need_answer(seen.answer, "DATASTORE").lower()
    if files.get("etcd"):
        actual, ko_actual = "etcd", "etcd"
    elif files.get("sqlite"):
        actual, ko_actual = "sqlite", "SQLite(kine)"
    else:
        raise NotReadable(
            "neither /var/lib/rancher/k3s/server/db/state.db nor .../db/etcd is on the server",
            "서버에 /var/lib/rancher/k3s/server/db/state.db도 .../db/etcd도 없습니다",
        )
    accepted = {"etcd"} if actual == "etcd" else {"sqlite", "kine", "sqlite3"}
    if answer in accepted:
        return done(
            f"yes: this lab keeps the cluster's state in {actual}",
            f"맞습니다: 이 랩은 클러스터 상태를 {ko_actual}에 저장합니다",
        )
    return not_yet(
        f"{answer!r} is not what this lab uses; look at the files under db/",
        f"{answer!r}은(는) 이 랩의 데이터스토어가 아닙니다. db/ 아래 파일을 보세요",
    )


_READYZ_LINE = re.compile(r"^\[([+-])\]([\w.-]+)")


def readyz_answer(seen: Seen, _params: NoParams) -> Finding:
    if not seen.record.result.ok:
        from labctl.lessons.reading import failed  # noqa: PLC0415

        raise failed(seen.record)
    checks = {
        m.group(2): m.group(1)
        for line in seen.record.result.stdout.splitlines()
        if (m := _READYZ_LINE.match(line.strip()))
    }
    failing = sorted(name for name, sign in checks.items() if sign == "-")
    if not checks:
        raise NotReadable(
            "/readyz?verbose listed no checks", "/readyz?verbose에 검사 항목이 없습니다"
        )
    if failing:
        return not_yet(
            f"the API server is not ready: {', '.join(failing)} failing",
            f"API 서버가 준비되지 않았습니다: {', '.join(failing)} 실패",
        )
    answer = need_answer(seen.answer, "CHECK")
    if answer in checks and "etcd" in answer:
        return done(
            f"yes: [+]{answer} ok is the datastore check (kine answers it on a one-server K3s)",
            f"맞습니다: [+]{answer} ok가 데이터스토어 검사입니다 (서버 하나인 K3s에서는 kine이 "
            "etcd 대신 응답합니다)",
        )
    if answer in checks:
        return not_yet(
            f"[+]{answer} is a check, but not the datastore's",
            f"[+]{answer}도 검사 항목이지만 데이터스토어 검사는 아닙니다",
        )
    return not_yet(
        f"/readyz?verbose lists no check {answer!r}",
        f"/readyz?verbose에 {answer!r} 검사는 없습니다",
    )


def count_answer(seen: Seen, _params: NoParams) -> Finding:
    objects = read_items(seen.record)
    answer = need_answer(seen.answer, "COUNT")
    kind = seen.call.kinds[0] if seen.call and seen.call.kinds else "object"
    if answer == str(len(objects)):
        names = ", ".join(name_of(o) for o in objects)
        return done(
            f"yes: the API server stores {len(objects)} {kind}s: {names}",
            f"맞습니다: API 서버에 저장된 {kind}는 {len(objects)}개입니다: {names}",
        )
    return not_yet(
        f"{answer!r} is not how many {kind}s the API server lists; count again",
        f"API 서버가 보여 주는 {kind} 수는 {answer!r}이(가) 아닙니다. 다시 세어 보세요",
    )

"""Pure helpers lesson judges share: read a probe's record as an API object, a list or text.

A kubectl NotFound is "not done yet" (the learner has not created it), any other failure is
shown with kubectl's own last line; both come out as a NotReadable the runner turns into "not
done" with the reason, in the learner's language.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any

from labctl.checks.kube import describe_failure
from labctl.lessons.verdicts import NotReadable, josa

if TYPE_CHECKING:
    from labctl.checks.model import StepRecord

# (English kind, Korean noun) as the wiki names them.
KIND_NAMES: dict[str, tuple[str, str]] = {
    "node": ("Node", "노드"),
    "pod": ("Pod", "파드"),
    "deployment": ("Deployment", "디플로이먼트"),
    "service": ("Service", "서비스"),
    "endpoints": ("Endpoints", "엔드포인트"),
    "ingress": ("Ingress", "인그레스"),
    "hpa": ("HorizontalPodAutoscaler", "HPA"),
    "application": ("Argo CD Application", "Argo CD 애플리케이션"),
    "namespace": ("Namespace", "네임스페이스"),
    "event": ("Event", "이벤트"),
}


_EXEC_TRAILER = re.compile(r"^command terminated with exit code \d+$")


def failed(record: StepRecord) -> NotReadable:
    """The probe's failure with its most telling line: `kubectl exec` appends "command
    terminated with exit code N" after the command's own error, so that line is skipped."""
    lines = [line for line in record.result.stderr.splitlines()
             if line.strip() and not _EXEC_TRAILER.match(line.strip())]  # fmt: skip
    if lines:
        result = dataclasses.replace(record.result, stderr=lines[-1])
        record = dataclasses.replace(record, result=result)
    text = describe_failure(record)
    return NotReadable(f"the probe failed: {text}", f"확인 명령이 실패했습니다: {text}")


def read_json(record: StepRecord) -> Any:
    """The probe's stdout as one JSON document; a failed probe or non-JSON is NotReadable."""
    if not record.result.ok:
        raise failed(record)
    try:
        return json.loads(record.result.stdout)
    except json.JSONDecodeError as exc:
        raise NotReadable(
            f"the probe did not print JSON ({exc.msg} at line {exc.lineno})",
            f"확인 명령의 출력이 JSON이 아닙니다 ({exc.lineno}번째 줄: {exc.msg})",
        ) from None


def read_object(record: StepRecord, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    """`kubectl get KIND NAME -o json`: the object, or NotReadable naming what is missing."""
    if not record.result.ok and "(NotFound)" in record.result.stderr:
        en_kind, ko_kind = KIND_NAMES.get(kind, (kind, kind))
        where_en = f" in namespace {namespace}" if namespace else ""
        where_ko = f"{namespace} 네임스페이스에 " if namespace else ""
        raise NotReadable(
            f"there is no {en_kind} {name}{where_en} yet",
            f"{where_ko}{name} {josa(ko_kind, '이', '가')} 아직 없습니다",
        )
    value = read_json(record)
    if not isinstance(value, dict):
        raise NotReadable(
            "kubectl printed something other than an object", "kubectl 출력이 오브젝트가 아닙니다"
        )
    return value


def read_items(record: StepRecord) -> list[dict[str, Any]]:
    """The items of a `kubectl get ... -o json` List (several kinds may be mixed)."""
    value = read_json(record)
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        raise NotReadable(
            "kubectl printed no list of objects", "kubectl 출력에 오브젝트 목록이 없습니다"
        )
    return [item for item in value["items"] if isinstance(item, dict)]


def need_answer(answer: str | None, metavar: str) -> str:
    """The learner's `--answer`, trimmed; without one the step says how to give it."""
    if answer is None or not answer.strip():
        raise NotReadable(
            f"this step wants your answer: `labctl lesson check --answer {metavar}`",
            f"이 단계는 답을 입력해야 합니다: `labctl lesson check --answer {metavar}`",
        )
    return answer.strip()

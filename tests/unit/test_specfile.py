"""Bad specs of every kind get one located line each; good specs load with defaults."""

from __future__ import annotations

import pytest

from labctl.errors import ExitCode, SpecError
from labctl.registry import plan_lab
from labctl.spec.loader import default_lab, load_lab, parse_lab


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_lab(text, "lab.yaml")
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    return caught.value.lines()


def test_minimal_spec_takes_every_default() -> None:
    lab = parse_lab("name: demo\n").lab
    assert (lab.provider, lab.network.cidr, lab.k3s.version) == (
        "virtualbox",
        "192.168.56.0/24",
        "v1.31.12+k3s1",
    )
    assert (lab.servers.count, lab.agents.count, lab.agents.memory) == (1, 2, 2048)
    assert plan_lab(lab).box == "bento/ubuntu-24.04"
    assert plan_lab(parse_lab("name: demo\nprovider: libvirt\n").lab).box == "bento/ubuntu-24.04"


def test_the_builtin_default_lab_is_one_server_two_agents() -> None:
    loaded = default_lab()
    assert (loaded.lab.servers.count, loaded.lab.agents.count) == (1, 2)
    assert loaded.source == "built-in default lab"


@pytest.mark.parametrize(
    ("memory", "mib"), [(1536, 1536), ("2GiB", 2048), ("512MiB", 512), ("3G", 3072), ("768M", 768)]
)
def test_memory_accepts_mib_or_a_unit(memory: object, mib: int) -> None:
    assert parse_lab(f"name: demo\nagents: {{memory: {memory}}}\n").lab.agents.memory == mib


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: demo\nservers:\n  count: 1\n  count: 3\n",
            "lab.yaml:4:3: servers.count: duplicate key (first at line 3)",
        ),
        ("name: demo\nservers: {count: 1\n", "lab.yaml:3:1: YAML syntax error"),
        ("- name: demo\n", "lab.yaml:1:1: the top level must be a mapping"),
        (
            "just text\n",
            "lab.yaml:1:1: the top level must be a mapping like `name: demo`, got text",
        ),
        (
            "name: demo\nagents: {cpu: 2}\n",
            "lab.yaml:2:10: agents.cpu: unknown key 'cpu'; did you mean 'cpus'?",
        ),
        (
            "name: demo\nnetwrok: {}\n",
            "lab.yaml:2:1: netwrok: unknown key 'netwrok'; did you mean 'network'?",
        ),
        (
            "name: demo\nservers: {cpus: two}\n",
            "lab.yaml:2:17: servers.cpus: expected a whole number, got text 'two'",
        ),
        (
            "name: demo\nservers: {count: 0}\n",
            "lab.yaml:2:18: servers.count: must be at least 1, got 0",
        ),
        (
            "name: demo\nagents: {cpus: 0}\n",
            "lab.yaml:2:16: agents.cpus: must be at least 1, got 0",
        ),
        (
            "name: demo\nservers: {memory: 512}\n",
            "servers.memory: 512 MiB is below the 1024 MiB a server needs",
        ),
        (
            "name: demo\nagents: {memory: 256}\n",
            "lab.yaml:2:18: agents.memory: 256 MiB is below the 512 MiB an agent needs",
        ),
        (
            "name: demo\naddons: {gitlab: {enabled: true, memory: 2GiB}}\n",
            "addons.gitlab.memory: 2048 MiB is below the 3072 MiB GitLab needs",
        ),
        ("name: demo\nagents: {memory: lots}\n", "agents.memory: 'lots' is not a size"),
        (
            "name: demo\nnetwork: {cidr: 192.168.56.0/33}\n",
            "network.cidr: '192.168.56.0/33' is not an IPv4 network",
        ),
        ("name: demo\nnetwork: {cidr: 192.168.56.7/24}\n", "did you mean 192.168.56.0/24?"),
        ("name: demo\nnetwork: {cidr: 8.8.8.0/24}\n", "is not a private network"),
        ("name: demo\nnetwork: {cidr: 192.168.56.0/29}\n", "/29 is too small for a lab"),
        (
            "name: demo\nnetwork: {cidr: 192.168.56.0/28}\nagents: {count: 5}\n",
            "lab.yaml:2:17: network.cidr: 192.168.56.0/28 holds 5 lab machines",
        ),
        (
            "name: demo\nnetwork: {cidr: 10.9.0.0/27}\nagents: {count: 20}\n"
            "servers: {count: 7}\naddons: {gitlab: {enabled: true}}\n",
            "holds 21 lab machines (addresses from .10 up) but the lab has 28; use a /26 or larger",
        ),
        ("name: Demo_1\n", "lab.yaml:1:7: name: 'Demo_1' is not a DNS label"),
        ("name: a-very-long-lab-name-indeed\n", "is 27 characters; use at most 20"),
        ("name: 1lab\n", "starting with a letter, e.g. 'lab-1lab'"),
        (
            "name: demo\nprovider: vbox\n",
            "lab.yaml:2:11: provider: 'vbox' is not allowed here; use one of: virtualbox, libvirt",
        ),
        ("name: demo\nprovider: libvirtt\n", "did you mean 'libvirt'?"),
        (
            "name: demo\nk3s: {version: v1.31.12}\n",
            "k3s.version: 'v1.31.12' is not a pinned K3s release; write it like v1.31.12+k3s1",
        ),
        ("name: demo\nk3s: {version: 1.31}\n", "k3s.version: expected text, got float 1.31"),
        (
            "name: demo\nk3s: {disable: [trafik]}\n",
            "k3s.disable[0]: 'trafik' is not allowed here; did you mean 'traefik'?",
        ),
        (
            "name: demo\nchecks: {skip: [dsn]}\n",
            "checks.skip[0]: 'dsn' is not a smoke check; did you mean 'dns'?",
        ),
        (
            "name: demo\naddons: {argocd: {enabled: yes please}}\n",
            "addons.argocd.enabled: expected true or false",
        ),
        (
            "name: demo\naddons: {argocd: {enabled: true}}\nk3s: {disable: [traefik]}\n",
            "k3s.disable[0]: Argo CD is served through Traefik",
        ),
        ("servers: {count: 1}\n", "lab.yaml:1:1: name: is required; add it"),
        ("name: demo\nservers: 3\n", "lab.yaml:2:10: servers: expected a mapping of keys, got int"),
        ("name: demo\nk3s: {server_args: --flag}\n", "k3s.server_args: expected a list"),
    ],
)
def test_bad_spec_gets_a_located_line(text: str, expected: str) -> None:
    lines = problems(text)
    assert any(expected in line for line in lines), lines


def test_every_problem_is_reported_in_file_order() -> None:
    lines = problems("name: BAD\nservers: {count: 0}\nagents: {memory: 1}\nfoo: 1\n")
    assert [line.split(":")[1] for line in lines] == ["1", "2", "3", "4"]


def test_empty_file_says_so_and_how_to_start() -> None:
    with pytest.raises(SpecError) as caught:
        parse_lab("\n# only a comment\n", "lab.yaml")
    assert caught.value.lines() == ["lab.yaml: the file is empty"]
    assert "labctl init" in caught.value.hint


def test_unreadable_inputs_are_spec_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    binary = tmp_path / "lab.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    for path, message in (
        (tmp_path / "missing.yaml", "no such file"),
        (tmp_path, "is a directory"),
        (binary, "is not UTF-8 text"),
    ):
        with pytest.raises(SpecError) as caught:
            load_lab(path)
        assert message in caught.value.lines()[0]

"""Remote-libvirt labs: the `libvirt:` spec section, its URI and the golden Vagrantfiles.

A real run on a second hypervisor cannot happen on this test host; the integration test puts the
golden files through real `vagrant validate` with the vagrant-libvirt plugin instead.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from labctl.errors import SpecError
from labctl.providers.libvirt import libvirt_uri
from labctl.registry import plan_lab
from labctl.render import LabPaths, render
from labctl.spec.loader import parse_lab
from labctl.spec.model import LibvirtConnection

GOLDEN = Path(__file__).parent / "golden"
LAB_DIR = PurePosixPath("/home/learner/labs/.labctl")

# Shapes of a remote lab a user would write by hand (the golden folder is `<shape>-libvirt`).
REMOTE_SHAPES: dict[str, str] = {
    "remote": (
        "name: team-01\n"
        "provider: libvirt\n"
        "network: {cidr: 10.200.0.0/28}\n"
        "agents: {count: 1}\n"
        "libvirt:\n"
        "  host: hv1.example.com\n"
        "  username: labs\n"
        "  port: 2222\n"
        "  id_ssh_key_file: ~/.ssh/id_ed25519\n"
    ),
    "remote-uri": (
        "name: team-02\n"
        "provider: libvirt\n"
        "network: {cidr: 10.200.0.16/28}\n"
        "agents: {count: 1}\n"
        "libvirt:\n"
        "  uri: qemu+ssh://labs@192.0.2.7/system?keyfile=/etc/labctl/hv-key\n"
    ),
}


def rendered(shape: str) -> dict[str, str]:
    lab = parse_lab(REMOTE_SHAPES[shape]).lab
    return dict(render(plan_lab(lab), LabPaths(LAB_DIR / lab.name)))


@pytest.mark.parametrize("shape", sorted(REMOTE_SHAPES))
def test_remote_vagrantfiles_match_golden(shape: str, update_golden: bool) -> None:
    files = rendered(shape)
    folder = GOLDEN / f"{shape}-libvirt"
    for rel, content in files.items():
        golden = folder / rel
        if update_golden:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(content, encoding="utf-8")
        assert golden.read_text(encoding="utf-8") == content, (
            f"{golden} differs; review, then --update-golden"
        )
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted(files)


def test_every_machine_of_a_remote_lab_uses_the_written_out_uri() -> None:
    vagrantfile = rendered("remote")["Vagrantfile"]
    assert vagrantfile.count("lv.uri = LIBVIRT_URI") == 2  # one server, one agent
    assert (
        'LIBVIRT_URI = "qemu+ssh://labs@hv1.example.com:2222/system?keyfile='
        '#{File.expand_path("~/.ssh/id_ed25519")}"' in vagrantfile
    )
    # vagrant-libvirt's own URI would carry no_verify=1; neither it nor its inputs are written.
    code = "\n".join(line for line in vagrantfile.splitlines() if not line.startswith("#"))
    for setting in ("no_verify", "lv.host", "lv.connect_via_ssh", "lv.username"):
        assert setting not in code


def test_a_local_libvirt_lab_has_no_uri() -> None:
    lab = parse_lab("name: demo\nprovider: libvirt\n").lab
    vagrantfile = render(plan_lab(lab), LabPaths(LAB_DIR / "demo"))["Vagrantfile"]
    assert "LIBVIRT_URI" not in vagrantfile
    assert "lv.uri" not in vagrantfile


@pytest.mark.parametrize(
    ("connection", "uri"),
    [
        ({}, None),
        ({"host": "hv1"}, '"qemu+ssh://hv1/system"'),
        ({"host": "10.0.0.5", "username": "ops"}, '"qemu+ssh://ops@10.0.0.5/system"'),
        ({"host": "hv1", "connect_via_ssh": False}, '"qemu://hv1/system"'),
        (
            {"host": "hv1", "id_ssh_key_file": "/keys/hv1"},
            '"qemu+ssh://hv1/system?keyfile=/keys/hv1"',
        ),
        (  # a bare name is a file in ~/.ssh, as vagrant-libvirt reads it
            {"host": "hv1", "id_ssh_key_file": "id_rsa_labs"},
            '"qemu+ssh://hv1/system?keyfile=#{File.expand_path("~/.ssh/id_rsa_labs")}"',
        ),
        ({"uri": "qemu+tls://hv2/system"}, '"qemu+tls://hv2/system"'),
    ],
)
def test_libvirt_uri(connection: dict[str, object], uri: str | None) -> None:
    assert libvirt_uri(LibvirtConnection.model_validate(connection)) == uri


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_lab(text)
    return caught.value.lines()


@pytest.mark.parametrize(
    ("libvirt", "expected"),
    [
        (
            "{host: 'labs@hv1'}",
            "lab.yaml:3:17: libvirt.host: 'labs@hv1' holds a user; write `host: hv1` and "
            "`username: labs`",
        ),
        (
            "{host: 'qemu+ssh://hv1/system'}",
            "lab.yaml:3:17: libvirt.host: 'qemu+ssh://hv1/system' is a URI; write it as "
            "libvirt.uri, or give only the host",
        ),
        (
            "{host: hv1, id_ssh_key_file: keys/hv1}",
            "lab.yaml:3:39: libvirt.id_ssh_key_file: 'keys/hv1' is relative; vagrant-libvirt "
            "would look for ~/.ssh/keys/hv1. Write an absolute path, ~/..., or a bare name "
            "inside ~/.ssh",
        ),
        (
            "{host: hv1, id_ssh_key_file: '/k/#{x}'}",
            "lab.yaml:3:39: libvirt.id_ssh_key_file: '/k/#{x}' has characters a key path in "
            "the Vagrantfile cannot keep; use letters, digits and ./_~+-",
        ),
        (
            "{uri: 'http://hv1/'}",
            "lab.yaml:3:16: libvirt.uri: 'http://hv1/' is not a qemu libvirt URI; write it "
            "like qemu+ssh://labs@hv1.example.com/system",
        ),
        (
            "{username: labs}",
            "lab.yaml:3:21: libvirt.username: libvirt.username is for a remote hypervisor; "
            "add libvirt.host (or libvirt.uri)",
        ),
        (
            "{uri: 'qemu+ssh://hv1/system', host: hv1}",
            "lab.yaml:3:47: libvirt.host: give either libvirt.uri or libvirt.host, not both",
        ),
        (  # vagrant-libvirt sets no ProxyCommand without SSH (integration: finalize!)
            "{host: hv1, connect_via_ssh: false, username: labs}",
            "lab.yaml:3:39: libvirt.connect_via_ssh: false (qemu://, TLS) cannot reach the "
            "machines: vagrant-libvirt tunnels to them through the hypervisor only over SSH; "
            "connect with qemu+ssh:// (connect_via_ssh: true)",
        ),
        (
            "{uri: 'qemu+tls://hv2/system'}",
            "lab.yaml:3:16: libvirt.uri: qemu+tls:// cannot reach the machines: vagrant-libvirt "
            "tunnels to them through the hypervisor only over SSH; connect with qemu+ssh:// "
            "(connect_via_ssh: true)",
        ),
        (
            "{uri: 'qemu://hv2/system'}",
            "lab.yaml:3:16: libvirt.uri: qemu:// cannot reach the machines: vagrant-libvirt "
            "tunnels to them through the hypervisor only over SSH; connect with qemu+ssh:// "
            "(connect_via_ssh: true)",
        ),
        (
            "{hots: hv1}",
            "lab.yaml:3:11: libvirt.hots: unknown key 'hots'; did you mean 'host'?",
        ),
    ],
)
def test_libvirt_section_errors_point_at_the_key(libvirt: str, expected: str) -> None:
    assert problems(f"name: x\nprovider: libvirt\nlibvirt: {libvirt}\n") == [expected]


def test_the_libvirt_section_is_refused_for_other_providers() -> None:
    assert problems("name: x\nprovider: lxc\nlibvirt:\n  host: hv1\n") == [
        "lab.yaml:4:3: libvirt: only the libvirt provider reads `libvirt:`; this lab uses "
        "lxc: remove the section or set `provider: libvirt`"
    ]


def test_a_libvirt_uri_of_this_host_is_not_refused() -> None:
    lab = parse_lab("name: x\nprovider: libvirt\nlibvirt: {uri: 'qemu:///system'}\n").lab
    assert lab.libvirt.uri == "qemu:///system"

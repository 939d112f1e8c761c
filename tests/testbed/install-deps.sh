#!/usr/bin/env bash
# Install the host packages labctl's lxc test bed needs, only those missing. Idempotent.
# Called by .ci/run as root on a fresh Debian 12 machine.
set -euo pipefail

PACKAGES=(
  lxc             # lxc-create/start/attach, /usr/share/lxc/config/common.conf
  vagrant         # 2.3.4 in Debian 12
  vagrant-lxc     # the lxc provider plugin (1.4.3)
  debootstrap     # builds the rootfs of boxes and plain hosts
  bridge-utils    # vagrant-lxc calls brctl
  iptables        # MASQUERADE for the lab networks
  dnsmasq-base    # lxc's package expects it; labctl itself uses static addresses
  kmod            # depmod: the module tree that makes modprobe work inside machines
  openssh-client  # ssh/ssh-keygen for the test bed's hosts
  openssh-server  # sshd: the attendees' gateway in the access tests (started by them, not here)
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: needs root (apt-get)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No daemon may start on the CI machine because a package was installed (sshd on port 22):
  # policy-rc.d's 101 tells invoke-rc.d "not allowed", for this install only.
  own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "install-deps.sh: all present (${PACKAGES[*]})"
fi

vagrant plugin list | grep -q vagrant-lxc || {
  echo "install-deps.sh: vagrant does not list the vagrant-lxc plugin" >&2
  exit 1
}

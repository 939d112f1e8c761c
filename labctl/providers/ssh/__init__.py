"""ssh: a lab on machines that already exist (a Raspberry Pi cluster, cloud VMs, classroom
servers), reached over SSH, possibly through jump hosts. Nothing is booted and nothing is
destroyed: `destroy` uninstalls what labctl installed."""

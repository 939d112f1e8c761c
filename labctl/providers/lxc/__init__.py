"""The lxc provider's host side: vagrant-lxc boxes built with debootstrap, and lab bridges with NAT.

Everything here that changes the host needs root. Pure parts (argument lists, file contents,
names) are kept apart from the functions that run tools, so they are unit-tested without root.
"""

"""Hosts in network namespaces, for partitions and dead hosts (root only).

A `Lab` makes one namespace per host and a hub namespace holding a bridge; each host
is joined to the bridge by a veth pair created directly between the two namespaces, so
nothing appears in the machine's own network namespace and the addresses (10.77.x.0/24)
route nowhere else. Shared servers (Redis, PostgreSQL) and the drill's clients live in
the hub (`enter()` switches the calling thread there). A cut is iptables DROP on the
host's side of its link, both ways: no packet leaves or arrives, so no FIN or RST
either, as when a host dies or a switch port goes dark; loopback inside the host stays.
Names carry a random tag, so drills on one machine never meet; `close()` (also run at
exit) ends what still runs inside and deletes every namespace, which deletes the links.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator

_CLONE_NEWNET = 0x40000000
_CUT_RULES = (("INPUT", "-i"), ("OUTPUT", "-o"))


def unavailable() -> str | None:
    """Why namespace drills cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "network namespaces and iptables need root (run as root)"
    for tool, package in (("ip", "iproute2"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            return f"{tool} not found: install {package} (ops/system-deps.sh test)"
    probe = f"csprobe{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
        subprocess.run(["ip", "netns", "exec", probe, "iptables", "-w", "-L", "-n"], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        return f"cannot use network namespaces with iptables here: {exc.stderr.decode(errors='replace').strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


class Lab:
    def __init__(self, hosts: list[str]) -> None:
        tag = secrets.token_hex(3)
        subnet = f"10.77.{secrets.randbelow(250) + 1}"
        self.hub = f"cs{tag}hub"
        self.hub_address = f"{subnet}.1"
        self.namespaces = {host: f"cs{tag}n{i}" for i, host in enumerate(hosts)}
        self.addresses = {host: f"{subnet}.{10 + i}" for i, host in enumerate(hosts)}
        self.cut_hosts: set[str] = set()
        self._made: list[str] = []

    def create(self) -> Lab:
        atexit.register(self.close)
        self._namespace(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "addr", "add", f"{self.hub_address}/24", "dev", "br0")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for i, (host, ns) in enumerate(self.namespaces.items()):
            self._namespace(ns)
            _ip("-n", self.hub, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", self.hub, "link", "set", f"v{i}", "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.addresses[host]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        return self

    def _namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def prefix(self, host: str) -> list[str]:
        """The command prefix that runs a program on `host` (ip execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespaces[host]]

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        """Run the calling thread (and the threads and processes it starts) in the hub."""
        home = os.open(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        try:
            _setns(f"/run/netns/{self.hub}")
            try:
                yield
            finally:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.setns(home, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back home")
        finally:
            os.close(home)

    def _iptables(self, host: str, action: str) -> None:
        for chain, flag in _CUT_RULES:
            command = [*self.prefix(host), "iptables", "-w", action, chain, flag, "eth0", "-j", "DROP"]
            subprocess.run(command, check=True, capture_output=True)

    def cut(self, host: str) -> None:
        """Drop every packet to and from `host` (loopback inside it still works)."""
        if host not in self.cut_hosts:
            self._iptables(host, "-I")
            self.cut_hosts.add(host)

    def heal(self, host: str) -> None:
        if host in self.cut_hosts:
            self._iptables(host, "-D")
            self.cut_hosts.discard(host)

    def kill(self, host: str) -> int:
        """kill -9 every process running on `host`, as its death would; how many there were."""
        return _kill_all(self.namespaces[host])

    def close(self) -> None:
        """End what still runs in the namespaces, then delete them (and so their links)."""
        for name in reversed(self._made):
            _kill_all(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self._made.clear()
        atexit.unregister(self.close)


def _kill_all(namespace: str) -> int:
    found = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
    for pid in found:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)
    return len(found)


@contextlib.contextmanager
def lab(hosts: list[str]) -> Iterator[Lab]:
    made = Lab(hosts)
    try:
        yield made.create()
    finally:
        made.close()

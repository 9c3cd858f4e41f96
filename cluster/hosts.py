"""Which configured addresses live on this host."""

from __future__ import annotations

import errno
import socket


def is_local_host(host: str) -> bool:
    """True when this machine can bind `host`, i.e. the address is one of its own."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as sock:
            try:
                sock.bind((sockaddr[0], 0))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue
                raise
            return True
    return False

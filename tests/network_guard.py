"""Fail any test that tries to reach a non-local address: the outside world is a local fake."""

import ipaddress
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
LOCAL_NAMES = {"localhost", "testserver"}


class InternetAccessBlocked(RuntimeError):
    pass


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path
        return True
    host = address[0]
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded(real):
    def connect(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            raise InternetAccessBlocked(f"Tests may not reach {address!r}; use a fake in tests/fakes/.")
        return real(self, address, *args, **kwargs)

    return connect


def install() -> None:
    socket.socket.connect = _guarded(_real_connect)
    socket.socket.connect_ex = _guarded(_real_connect_ex)

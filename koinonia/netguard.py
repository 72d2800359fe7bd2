"""Server-side request forgery guard, shared by every fetch or post to an address someone else chose:
inbound MMS pictures (``conversations/services/media.py``) and outgoing webhooks
(``integrations/transport.py``).

The rule: a target is reached only at public addresses. Every address the name resolves to is checked
(a name with one private address among public ones is refused: it could be answered either way), and
the caller connects to the address that was checked — no second lookup a DNS answer could change.
Link-local (cloud metadata at 169.254.169.254), multicast, unspecified and reserved addresses are
refused always; loopback and private ranges only when the caller allows them (development and tests
aimed at a loopback fake)."""

import ipaddress
import socket

import certifi
import urllib3


class AddressRefused(ValueError):
    """The target is not at a public address."""


class ResolutionFailed(OSError):
    """The name could not be resolved now (worth trying again later)."""


def address_allowed(address: str, *, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False  # never: cloud metadata (169.254.169.254) and addresses that route nowhere sane
    if ip.is_global:
        return True
    return allow_private and (ip.is_loopback or ip.is_private)


def resolve_checked(host: str, port: int, *, allow_private: bool, what: str = "host") -> str:
    """The address to connect to, after checking every address ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolutionFailed(f"cannot resolve the {what} ({exc})") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses or not all(address_allowed(address, allow_private=allow_private) for address in addresses):
        raise AddressRefused(f"the {what} is not a public address")
    return addresses[0]


def literal_address(host: str) -> str | None:
    """``host`` when it is an IP address literal (brackets stripped), else None."""
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate.split("%")[0])
    except ValueError:
        return None
    return candidate


def pinned_pool(*, scheme: str, address: str, host: str, port: int, timeout) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the checked ``address``, verifying TLS against ``host``'s name (SNI and the
    certificate are the name's; the socket is the address we checked). No retries: callers decide."""
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)

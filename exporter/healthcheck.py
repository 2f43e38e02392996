"""Liveness probe for containers: ``python -m exporter.healthcheck`` exits 0 while the exporter answers.

The Dockerfile's HEALTHCHECK runs it.  It asks ``/healthz`` on the address in
``KAFKA_INSIGHT_WEB_LISTEN_ADDRESS`` (default ``:9741``; a wildcard host means loopback) and
works whether web TLS is on or not, without knowing the web config: it tries HTTPS first,
and plain HTTP when the server does not speak TLS.  The certificate is not verified (it is
issued for the service's name, and this probe only asks whether the process answers), and a
401 counts as an answer: the probe has no password, basic auth hashes cannot be reversed, and
a server that checks credentials is alive.  Only the live serving process completes a TLS
handshake, so a server that demands a client certificate (and then refuses the request, or
answers the handshake with an alert) counts as alive too.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import sys

DEFAULT_ADDRESS = ":9741"
#: what counts as "the exporter answered": ready or not, with or without credentials
ALIVE = {200, 401}


def target(address: str) -> tuple[str, int]:
    """``host:port`` (``:port``, ``[v6]:port``) -> where to connect on this machine."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad listen address {address!r} (want host:port)")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port)


def _status(conn: http.client.HTTPConnection) -> int:
    try:
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        return conn.getresponse().status
    finally:
        conn.close()


def _alert(exc: ssl.SSLError) -> bool:
    return "ALERT" in (exc.reason or "").upper()


def probe(host: str, port: int, timeout: float = 4.0) -> tuple[bool, str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    where = f"https://{host}:{port}/healthz"
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return False, f"{host}:{port}: {exc}"
    try:
        tls = context.wrap_socket(raw)  # the handshake: only a live server process completes it
    except ssl.SSLError as exc:
        raw.close()
        if _alert(exc):  # e.g. TLS 1.2 and a client certificate required
            return True, f"{where}: TLS alert from the server ({exc.reason})"
        # not TLS: a plain-HTTP server answers the ClientHello with text ("wrong version number")
    except OSError:
        raw.close()  # reset or timed out during the handshake: see whether plain HTTP answers
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = tls
        try:
            status = _status(conn)
            return status in ALIVE, f"{where}: {status}"
        except TimeoutError as exc:
            return False, f"{where}: {exc}"
        except (OSError, http.client.HTTPException) as exc:
            # after a completed handshake: with TLS 1.3 a server that requires a client
            # certificate rejects it only now, with an alert or by closing the connection
            return True, f"{where}: TLS server, request refused ({exc})"
    where = f"http://{host}:{port}/healthz"
    try:
        status = _status(http.client.HTTPConnection(host, port, timeout=timeout))
        return status in ALIVE, f"{where}: {status}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{where}: {exc}"


def main() -> int:
    try:
        host, port = target(os.environ.get("KAFKA_INSIGHT_WEB_LISTEN_ADDRESS") or DEFAULT_ADDRESS)
    except ValueError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    alive, detail = probe(host, port)
    print(f"healthcheck: {detail}", file=sys.stdout if alive else sys.stderr)
    return 0 if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())

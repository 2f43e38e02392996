"""Liveness probe for containers: ``python -m exporter.healthcheck`` exits 0 while the exporter answers.

The Dockerfile's HEALTHCHECK runs it.  It asks ``/healthz`` on the address in
``KAFKA_INSIGHT_WEB_LISTEN_ADDRESS`` (default ``:9741``; a wildcard host means loopback) and
works whether web TLS is on or not, without knowing the web config: it tries HTTPS first,
and plain HTTP when the server does not speak TLS.  The certificate is not verified (it is
issued for the service's name, and this probe only asks whether the process answers), and a
401 counts as an answer: the probe has no password, basic auth hashes cannot be reversed, and
a server that checks credentials is alive.  A TLS server that demands a client certificate
answers the handshake with an alert, which counts as alive too.
"""

from __future__ import annotations

import http.client
import os
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


def _get(conn: http.client.HTTPConnection) -> int:
    try:
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        return conn.getresponse().status
    finally:
        conn.close()


def probe(host: str, port: int, timeout: float = 4.0) -> tuple[bool, str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        status = _get(http.client.HTTPSConnection(host, port, timeout=timeout, context=context))
        return status in ALIVE, f"https://{host}:{port}/healthz: {status}"
    except ssl.SSLError as exc:
        # a plain-HTTP server answers the ClientHello with text: "wrong version number" or
        # "record layer failure"; an alert from the server (e.g. certificate required) is TLS
        if "ALERT" in (exc.reason or "").upper() or "alert" in str(exc):
            return True, f"https://{host}:{port}: TLS alert from the server ({exc.reason})"
    except (OSError, http.client.HTTPException) as exc:
        if not isinstance(exc, ConnectionResetError | http.client.RemoteDisconnected):
            return False, f"https://{host}:{port}/healthz: {exc}"
    try:
        status = _get(http.client.HTTPConnection(host, port, timeout=timeout))
        return status in ALIVE, f"http://{host}:{port}/healthz: {status}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"http://{host}:{port}/healthz: {exc}"


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

"""`mmx up`'s readiness probe: only a 2xx answer counts; garbage is "not up yet"."""

from __future__ import annotations

import socket
import threading

from services.stack import _answers


def test_a_port_that_echoes_the_request_back_is_not_up_yet() -> None:
    """As a probe connected to itself (TCP simultaneous open on a local port) reads its own
    request line as the status line: BadStatusLine, which must not stop `mmx up`."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo_once() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(1024))

    thread = threading.Thread(target=echo_once, daemon=True)
    thread.start()
    try:
        assert _answers(f"http://127.0.0.1:{port}/ready") is False
    finally:
        thread.join(timeout=5)
        server.close()


def test_a_port_nobody_listens_on_is_not_up_yet() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed on exit: nothing listens there then

    assert _answers(f"http://127.0.0.1:{port}/ready") is False

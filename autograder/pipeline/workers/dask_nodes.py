"""Dask's scheduler and worker without their HTTP servers (trusted side).

Dask opens an HTTP server on every scheduler and worker (the dashboard, /json, /metrics, /health,
a proxy), on port 8787 even with the dashboard turned off, and that server asks for no
credentials. Grading needs none of it. `Scheduler` and `Worker` here never open one: the
`--cluster local` cluster is made of them. A `dask scheduler` or `dask worker` started with
`--preload autograder.pipeline.workers.dask_nodes` (docs/cluster.md) closes the one it opened before it
takes any work (`dask_setup`).
"""
from __future__ import annotations

import distributed


class Scheduler(distributed.Scheduler):
    """A Dask scheduler that listens only on its (TLS) comm address."""

    def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
        """Open no HTTP server."""


class Worker(distributed.Worker):
    """A Dask worker that listens only on its (TLS) comm address."""

    def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
        """Open no HTTP server."""


def dask_setup(server) -> None:
    """Dask's preload hook: close the HTTP server a scheduler or worker opened as it started."""
    http = server.services.pop("dashboard", None)
    if http is not None:
        http.stop()

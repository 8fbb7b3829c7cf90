"""Which Dask cluster a run grades on, and the credentials it speaks to it with (trusted side).

Whoever can talk to a Dask scheduler can run code on it and on every worker, so the kit talks
to a cluster only over mutually authenticated TLS: `--cluster local` makes a key and a
certificate for the run (distributed's `Security.temporary()`, kept in memory; its processes
listen on 127.0.0.1 only); `--cluster tls://HOST:PORT` uses the instructor's CA, certificate and
key (options, or distributed's own settings `distributed.comm.tls.ca-file`,
`distributed.comm.tls.client.cert` and `.key`, e.g. from DASK_DISTRIBUTED__COMM__TLS__CA_FILE).
A plain `tcp://` scheduler is refused unless the instructor says `--insecure-cluster`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .executor import ExecutorError


class ClusterError(ExecutorError):
    """The cluster named by --cluster cannot be reached, started or trusted; the message says why."""


class OtherGrader(ClusterError):
    """A Dask worker grades with another kit, other graders or another course secret than the run."""


#: Where distributed reads a client's TLS files when no option names them (also from DASK_* variables).
CONFIG_KEYS = {"ca_file": "distributed.comm.tls.ca-file", "cert": "distributed.comm.tls.client.cert",
               "key": "distributed.comm.tls.client.key"}
#: The command line's options for the same files.
OPTIONS = {"ca_file": "--tls-ca-file", "cert": "--tls-cert", "key": "--tls-key"}
DOCS = "docs/cluster.md"


def parse_cluster(spec: str) -> str:
    """'local' or a scheduler address (tls://, or tcp://); anything else is a clear error."""
    if spec == "local" or spec.startswith(("tcp://", "tls://")) and len(spec.split("://", 1)[1]) > 0:
        return spec
    raise ClusterError(f"--cluster {spec!r}: use 'local' or a scheduler address such as tls://HOST:8786")


@dataclass(frozen=True)
class ClusterSpec:
    """--cluster and its credentials: checked once, when the run's settings are read."""
    address: str
    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False

    def __post_init__(self):
        parse_cluster(self.address)
        if self.address.startswith("tcp://") and not self.insecure:
            raise ClusterError(
                f"--cluster {self.address}: a plain tcp:// scheduler is neither authenticated nor encrypted "
                "(anyone who reaches it can run code on every worker and read the submissions). Start the "
                f"cluster with TLS and use tls://, with your certificates ({DOCS}), or add --insecure-cluster "
                "if the network and every user on it are trusted")
        if not self.address.startswith("tls://") and any(self._given().values()):
            raise ClusterError(f"--cluster {self.address}: TLS files go with a tls:// address only")
        if self.address.startswith("tls://"):
            self.tls_files()  # missing or unreadable: said now, before anything starts

    def _given(self) -> dict:
        return {"ca_file": self.ca_file, "cert": self.cert, "key": self.key}

    def tls_files(self) -> dict:
        """{"ca_file", "cert", "key"}: the options, else distributed's settings; checked."""
        import dask
        files = {name: value or dask.config.get(CONFIG_KEYS[name], None) for name, value in self._given().items()}
        missing = [name for name in ("ca_file", "cert") if not files[name]]
        if missing:
            raise ClusterError(
                f"--cluster {self.address} needs the cluster's CA certificate and your client certificate and "
                f"key: {', '.join(OPTIONS[m] for m in missing)} (or distributed's settings "
                f"{', '.join(CONFIG_KEYS[m] for m in missing)}); see {DOCS} to make them")
        for name, path in files.items():
            if path and "\n" not in path and not os.access(path, os.R_OK):  # PEM text itself is fine too
                raise ClusterError(f"{OPTIONS[name]} {path}: no such readable file; see {DOCS} to make it")
        return files

    def security(self):
        """distributed's Security for this cluster (None for an insecure tcp:// one)."""
        from distributed import Security
        if self.address == "local":
            try:
                return Security.temporary()
            except ImportError as exc:  # cryptography missing
                raise ClusterError(f"--cluster local needs per-run TLS credentials: {exc}") from None
        if self.address.startswith("tcp://"):
            return None
        files = self.tls_files()
        return Security(require_encryption=True, tls_ca_file=files["ca_file"], tls_client_cert=files["cert"],
                        tls_client_key=files["key"])


def cluster_spec(cluster) -> ClusterSpec | None:
    """A run's cluster as a ClusterSpec: None, an address string (credentials from Dask's settings)
    or a ClusterSpec as is."""
    if not cluster or isinstance(cluster, ClusterSpec):
        return cluster or None
    return ClusterSpec(str(cluster))

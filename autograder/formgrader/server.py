"""The formgrader's Jupyter server: the kit's formgrader extension and nothing that runs code.

Trusted side, run by launch.py (as an unprivileged user when started as root). Only the
services a formgrader page calls are served (status, login): no kernels, kernel
specs, sessions, terminals, contents, files or nbconvert; no other server extension is loaded,
whatever the environment's Jupyter config enables; a kernel cannot be started even from inside
the server; the contents manager writes nothing. Run as `python -m autograder.formgrader.server`
with Jupyter's ServerApp options.
"""
from __future__ import annotations

from jupyter_server.serverapp import ServerApp
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web

from . import csp

EXTENSION = "autograder.formgrader.extension"
REFUSED = "the kit's formgrader runs no code"


class NoKernels(AsyncMappingKernelManager):
    """A kernel manager that starts no kernel."""

    async def start_kernel(self, *args, **kwargs):
        raise web.HTTPError(403, REFUSED)


class ReadOnlyContents(AsyncLargeFileManager):
    """Contents that serve no /files/ route and write nothing (the formgrader writes only the gradebook)."""

    files_handler_class = None

    def get_extra_handlers(self):
        return []

    async def save(self, model, path=""):
        raise web.HTTPError(403, REFUSED)

    async def delete_file(self, path):
        raise web.HTTPError(403, REFUSED)

    async def rename_file(self, old_path, new_path):
        raise web.HTTPError(403, REFUSED)


class FormgraderServer(ServerApp):
    """Jupyter's server with only the formgrader's services and the kit's extension."""

    name = "autograder-formgrader"
    default_services = ("api", "auth")

    def init_configurables(self):
        # Whatever a Jupyter config file on the machine says, these hold.
        self.kernel_manager_class, self.contents_manager_class = NoKernels, ReadOnlyContents
        self.terminals_enabled = False
        super().init_configurables()

    def init_server_extensions(self):
        self.jpserver_extensions = {EXTENSION: True}
        super().init_server_extensions()


def main(argv=None) -> None:
    app = FormgraderServer(open_browser=False, allow_remote_access=False,
                           tornado_settings={"headers": {"Content-Security-Policy": csp.policy(None)}})
    app.initialize(argv, find_extensions=False)
    app.start()


if __name__ == "__main__":
    main()

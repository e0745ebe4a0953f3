"""`python -m service` / `posecast-server`: uvicorn on POSECAST_HOST:POSECAST_PORT with graceful shutdown, in one
process or in POSECAST_WORKERS processes sharing the port."""

from __future__ import annotations

import gc
import logging
import math
import os
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from service.app import create_app
from service.connections import http_protocol
from service.logs import configure_logging
from service.settings import CLIENT_VARIABLES, SETTING_VARIABLES, Settings, unknown_variables
from service.workers import Supervisor

logger = logging.getLogger("service")
# CPython collects its youngest generation every 700 net new container objects and the older ones every tenth of
# those passes; a request makes hundreds, so collections (the full ones walk every object the imports made) took
# about a tenth of the event loop's CPU. At 10,000 they come 14x less often, for a little more garbage held.
YOUNGEST_GENERATION_THRESHOLD = 10_000


class DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT, readiness turns 503 before uvicorn stops accepting and drains in-flight requests."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._app.state.draining = True
        super().handle_exit(sig, frame)


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        sys.exit(f"posecast: invalid configuration, not starting:\n{problems}")
    configure_logging(settings.log_format, settings.log_level)
    for name in unknown_variables(os.environ):
        if name.upper() in CLIENT_VARIABLES:
            logger.warning("%s is not a server setting (%s) and is ignored", name, CLIENT_VARIABLES[name.upper()])
        else:
            logger.warning("%s is not a posecast setting and is ignored; known: %s", name, ", ".join(SETTING_VARIABLES))
    if settings.workers > 1:
        sys.exit(Supervisor(settings).run())
    serve(settings)


def serve(settings: Settings, sockets: list[socket.socket] | None = None) -> None:
    """One server process: on POSECAST_HOST:POSECAST_PORT, or on a socket the supervisor opened for this worker."""
    collect_less_often()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep our handler (request ids, JSON)
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=math.ceil(settings.grace_period_s),
        http=http_protocol(settings),
    )
    DrainingServer(config, app).run(sockets=sockets)


def collect_less_often() -> None:
    """The youngest generation's threshold raised (`YOUNGEST_GENERATION_THRESHOLD`), the older ones' kept."""
    gc.set_threshold(YOUNGEST_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


if __name__ == "__main__":
    main()

#!/usr/local/bin/python3
"""Container health check: exit 0 only when the server answers 200 on /v2/health/ready.

The slim images carry no curl or wget, and the standard library is enough. It runs with the image's
interpreter, never imports the project, and reads the same `POSECAST_PORT` the server binds to.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('POSECAST_PORT', '8000')}/v2/health/ready"
    # An empty ProxyHandler: an HTTP(S)_PROXY meant for the server's egress must not capture loopback probes.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT_S) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:  # HTTPError (503 while warming up) is a URLError
        print(f"not ready: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""moto's DynamoDB-compatible server for local runs and tests, with requests serialised.

Why not plain `moto_server`: it serves requests on threads, and its TransactWriteItems checks
conditions, writes, and on failure restores a deep copy of the table taken before it started.
Two concurrent transactions can therefore both pass a condition, or one can roll back the other's
committed write. DynamoDB itself applies each request atomically; holding one lock per request
gives the same guarantee, so concurrency tests test our code, not the emulator's races.

Usage: moto_server.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
Port 0 picks a free port; the chosen one is printed and written to --port-file once listening.
"""

import argparse
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def serialised(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # Materialise the response under the lock too: moto may build it lazily.
            return list(app(environ, start_response))

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()

    app = serialised(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_port
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(port))
    print(f"moto (DynamoDB) listening on http://{args.host}:{port}", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()

"""moto's DynamoDB-compatible server for local runs and tests: DynamoDB requests serialised,
connections kept alive.

Why not plain `moto_server`: it serves requests on threads, and its TransactWriteItems checks
conditions, writes, and on failure restores a deep copy of the table taken before it started.
Two concurrent transactions can therefore both pass a condition, or one can roll back the other's
committed write. DynamoDB itself applies each request atomically; holding one lock per DynamoDB
request gives the same guarantee, so concurrency tests test our code, not the emulator's races.
SQS (the delivery queues of `make dev`, on the same port) is not under the lock: a long poll
waits for messages without holding any table request.

Second, cheaper rollback: moto backs a transaction up by deep-copying every table it touches,
so a transaction's cost grows with the table (a 50-item send took seconds once the table held a
few thousand items). With requests serialised, snapshotting only the items the transaction
touches and restoring those on failure is exact, and costs what the transaction writes.

Third, HTTP/1.1 keep-alive, as DynamoDB gives it: moto's own server (werkzeug's) answers every
request with `Connection: close`, so each SDK call would open a new connection. cheroot serves
the same WSGI app and keeps connections open between requests.

Usage: moto_server.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
Port 0 picks a free port; the chosen one is printed and written to --port-file once listening.
SIGTERM or SIGINT stops it; requests in flight get a few seconds to finish.
"""
import argparse
import copy
import os
import signal
import threading

import moto.dynamodb.models as dynamodb_models
from cheroot import wsgi
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

# An idle connection is closed after this long: later than the AWS SDK drops one from its pool
# (90 s), so the client ends it, and no request goes down a connection the server is closing.
IDLE_TIMEOUT_SECONDS = 120
# A request holds a worker thread while it waits for the lock, or while an SQS long poll waits
# for messages; a connection idle between requests holds none.
WORKER_THREADS = 32
# On SIGTERM/SIGINT, how long the requests in flight may still take.
STOP_GRACE_SECONDS = 5


class _CopyWithoutTables:
    """Stands in for the `copy` module inside moto.dynamodb.models: tables are not deep-copied
    (the transaction below restores the items it touched instead)."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj, memo=None):
        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)


def _item_key(table, op_type, op):
    key = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _restore(table, hash_value, range_value, item):
    if item is None:
        try:
            table.delete_item(hash_value, range_value)
        except KeyError:
            pass
    elif range_value is not None:
        table.items[hash_value][range_value] = item
    else:
        table.items[hash_value] = item


def install_cheap_transaction_rollback():
    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        try:
            snapshots = []
            for entry in transact_items:
                op_type, op = next(iter(entry.items()))
                table = self.get_table(op["TableName"])
                hash_value, range_value = _item_key(table, op_type, op)
                before = table.get_item(hash_value, range_value)
                snapshots.append((table, hash_value, range_value, copy.deepcopy(before)))
        except Exception:
            # Malformed request: let moto answer with its own validation error.
            return original(self, transact_items)
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(snapshots):
                _restore(table, hash_value, range_value, item)
            raise

    dynamodb_models.copy = _CopyWithoutTables()
    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


DYNAMODB_TARGETS = ("DynamoDB_", "DynamoDBStreams_")


def serialised(app):
    """DynamoDB (and DynamoDB Streams) requests one at a time, under one lock. The others (SQS,
    whose ReceiveMessage may wait up to 20 s for a message) run concurrently, as in moto_server,
    whose SQS backend is made for it (a send wakes a waiting receive)."""
    lock = threading.Lock()

    def handle(environ, start_response):
        # The raw request target under werkzeug's name, which moto's Request.raw_path reads.
        # (moto's werkzeug request handler also keeps the spelling of underscored S3 metadata
        # header names; no S3 here.)
        environ.setdefault("RAW_URI", environ.get("REQUEST_URI", ""))
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGETS):
            return app(environ, start_response)
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

    install_cheap_transaction_rollback()
    app = serialised(DomainDispatcherApplication(create_backend_app))
    server = wsgi.Server(
        (args.host, args.port),
        app,
        numthreads=WORKER_THREADS,
        request_queue_size=128,
        timeout=IDLE_TIMEOUT_SECONDS,
    )
    # Keep every idle connection open (cheroot's default keeps 10 and closes the others).
    server.keep_alive_conn_limit = None
    server.prepare()
    port = server.bind_addr[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(port))
    print(f"moto (DynamoDB) listening on http://{args.host}:{port}", flush=True)

    stopper = threading.Thread(target=server.stop, daemon=True)

    def stop(*_):
        if stopper.ident is None:
            stopper.start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve()
    # stop() lets the requests in flight finish; an SQS long poll may wait up to 20 s more, and
    # cheroot's workers are not daemon threads: after a few seconds, exit without them.
    stopper.join(timeout=STOP_GRACE_SECONDS)
    os._exit(0)


if __name__ == "__main__":
    main()

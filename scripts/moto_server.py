"""moto's DynamoDB-compatible server for local runs and tests, with requests serialised.

Why not plain `moto_server`: it serves requests on threads, and its TransactWriteItems checks
conditions, writes, and on failure restores a deep copy of the table taken before it started.
Two concurrent transactions can therefore both pass a condition, or one can roll back the other's
committed write. DynamoDB itself applies each request atomically; holding one lock per request
gives the same guarantee, so concurrency tests test our code, not the emulator's races.

Second, cheaper rollback: moto backs a transaction up by deep-copying every table it touches,
so a transaction's cost grows with the table (a 50-item send took seconds once the table held a
few thousand items). With requests serialised, snapshotting only the items the transaction
touches and restoring those on failure is exact, and costs what the transaction writes.

Usage: moto_server.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
Port 0 picks a free port; the chosen one is printed and written to --port-file once listening.
"""

import argparse
import copy
import signal
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


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

    install_cheap_transaction_rollback()
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

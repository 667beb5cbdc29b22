#!/usr/bin/env python3
"""Init time of each function binary: process start until it asks the Lambda Runtime API for its
first invocation (GET /2018-06-01/runtime/invocation/next), i.e. ready to serve.

    scripts/init-time.py target/sam-build [RUNS]

Each run starts the bootstrap with a Runtime API stand-in on a free 127.0.0.1 port and the
settings a deployed function has; prints p50 and max per function. No network besides loopback.
"""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path


def measure(bootstrap: Path) -> float:
    ready = threading.Event()

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.endswith("/runtime/invocation/next"):
                ready.set()
            self.send_response(503)  # never hand out an event: only readiness is measured
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}",
        "AWS_LAMBDA_FUNCTION_NAME": bootstrap.parent.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_STREAM_NAME": "init-time",
        "AWS_LAMBDA_LOG_GROUP_NAME": "init-time",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "TABLE_NAME": "switchboard",
        "JWT_SECRET": "init-time-measurement-secret-0123456789abcdef",
        "TWILIO_AUTH_TOKEN": "init-time-token",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "WEBHOOK_URL_FROM_REQUEST": "true",
        "STATUS_CALLBACK_URL": "https://example.com/status",
        "DELIVERY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/delivery",
        "DELIVERY_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/delivery-dlq",
        "MEDIA_BUCKET": "switchboard-media",
        "WEBSOCKET_API_ENDPOINT": "https://example.execute-api.us-east-1.amazonaws.com/live",
        "RUST_LOG": "info",
    }
    started = time.perf_counter()
    process = subprocess.Popen([str(bootstrap)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not ready.wait(10):
            raise SystemExit(f"{bootstrap}: not ready within 10 s")
        return (time.perf_counter() - started) * 1000
    finally:
        process.kill()
        process.wait()
        server.shutdown()


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/sam-build")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    bootstraps = sorted(root.glob("*/bootstrap"))
    if not bootstraps:
        raise SystemExit(f"no */bootstrap under {root}: run sam build first")
    print(f"{'function':<24} {'p50 ms':>8} {'max ms':>8}   ({runs} runs each)")
    for bootstrap in bootstraps:
        times = [measure(bootstrap) for _ in range(runs)]
        print(f"{bootstrap.parent.name:<24} {statistics.median(times):8.1f} {max(times):8.1f}")


if __name__ == "__main__":
    main()

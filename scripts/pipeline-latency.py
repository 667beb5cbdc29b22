#!/usr/bin/env python3
"""Time from write-ahead to Twilio's acceptance through the local delivery pipeline.

Against a running `make dev` (the API on :9000, the Twilio stand-in on :9100): sends N texts,
one at a time, to a phone in an SMS conversation, and for each compares the message's
`createdAt` (the write-ahead transaction) with the moment the stand-in accepted the SMS (the
"create a Message" call the `delivery` function made, after SQS, the queue poller and
`cargo lambda watch`). Prints p50, p90, p99 and max; the stand-in's 250 ms idle pause of the
poller (QUEUE_POLL_IDLE_MS) is part of what it measures.

    scripts/pipeline-latency.py [--count 100] [--api URL] [--standin URL] [--gap-ms 200]

Standard library only. A development tool: it registers users and adds a pool number.
"""

import argparse
import json
import random
import statistics
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime

PASSWORD = "correct horse battery"


def call(method, url, body=None, token=None, ok=(200, 201)):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        payload = json.loads(error.read() or b"null")
        if error.code in ok:
            return error.code, payload
        return error.code, payload


def instant(text):
    """RFC 3339 with up to nanoseconds, as both the API and the stand-in write it."""
    text = text.replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text).timestamp()


def session(api, username, email):
    status, body = call("POST", f"{api}/api/auth/register",
                        {"username": username, "email": email, "password": PASSWORD})
    if status != 201:
        status, body = call("POST", f"{api}/api/auth/login", {"username": username, "password": PASSWORD})
    if status != 200 and status != 201:
        sys.exit(f"could not sign in as {username}: {status} {body}")
    return body["token"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--api", default="http://127.0.0.1:9000")
    parser.add_argument("--standin", default="http://127.0.0.1:9100")
    parser.add_argument("--gap-ms", type=int, default=200, help="pause between sends")
    args = parser.parse_args()

    admin = session(args.api, "admin", "admin@example.com")
    tag = random.randrange(10_000, 99_999)
    number = f"+1415555{random.randrange(2000, 2999):04d}"
    call("POST", f"{args.api}/api/numbers", {"phoneNumber": number}, admin)
    user = session(args.api, f"latency{tag}", f"latency{tag}@example.com")
    status, body = call("POST", f"{args.api}/api/users/virtual-number", {}, user)
    if status not in (200, 201):
        sys.exit(f"no free number: {status} {body}")
    phone = f"+1415555{random.randrange(3000, 3999):04d}"
    status, body = call("POST", f"{args.api}/api/conversations/sms", {"phoneNumber": phone}, user)
    path = f"{args.api}/api/conversations/{body['conversation']['id']}/messages"

    written = {}
    for i in range(args.count):
        text = f"latency {tag} #{i}"
        status, body = call("POST", path, {"content": text}, user)
        if status != 201:
            sys.exit(f"send {i}: {status} {body}")
        written[text] = instant(body["message"]["createdAt"])
        time.sleep(args.gap_ms / 1000)

    deadline = time.time() + 120
    while True:
        _, inbox = call("GET", f"{args.standin}/phones/{phone}/messages")
        accepted = {
            sms["body"]: instant(sms["at"])
            for sms in (inbox.get("messages", inbox) if isinstance(inbox, dict) else inbox)
            if sms.get("direction") == "received" and sms.get("body") in written
        }
        if len(accepted) == len(written) or time.time() > deadline:
            break
        time.sleep(0.5)
    if len(accepted) < len(written):
        sys.exit(f"only {len(accepted)} of {len(written)} texts reached {phone}")
    millis = sorted((accepted[text] - written[text]) * 1000 for text in written)
    pct = lambda p: millis[min(len(millis) - 1, round((len(millis) - 1) * p))]
    print(f"write-ahead to Twilio's acceptance, local pipeline, n={len(millis)}: "
          f"p50={pct(0.5):.0f} ms  p90={pct(0.9):.0f} ms  p99={pct(0.99):.0f} ms  "
          f"max={millis[-1]:.0f} ms  mean={statistics.mean(millis):.0f} ms")


if __name__ == "__main__":
    main()

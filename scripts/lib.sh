# Shared by scripts/dev.sh and scripts/test.sh.

# Starts the serialised moto server on $1 (0 = any free port) and sets MOTO_PID and MOTO_PORT.
start_moto() {
  local port_file
  port_file=$(mktemp)
  rm -f "$port_file"
  .venv/bin/python scripts/moto_server.py --host 127.0.0.1 --port "$1" --port-file "$port_file" \
    >"${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 150); do
    if [ -s "$port_file" ]; then
      MOTO_PORT=$(cat "$port_file")
      rm -f "$port_file"
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto failed to start (log: ${MOTO_LOG:-none})" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "moto did not start within 30 s" >&2
  return 1
}

# Dummy credentials: the local server accepts any, the SDK insists on some.
use_local_aws() {
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  export AWS_EC2_METADATA_DISABLED=true
}

# A TCP port nothing listens on now (for stacks started side by side on one machine).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 5 minutes for something to listen on 127.0.0.1:$1 (the first start compiles).
wait_for_port() {
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "nothing listens on 127.0.0.1:$1${2:+ (log: $2)}" >&2
  return 1
}

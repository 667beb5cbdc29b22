#!/usr/bin/env bash
# Publishes the web client to a deployed stack, after `sam deploy`:
#   scripts/publish-web.sh [STACK_NAME]      (default: $STACK_NAME, else "switchboard")
# Builds web/ (scripts/web.sh build), uploads web/dist to the stack's private bucket (output
# WebBucketName; hashed assets cached for a year, index.html revalidated), writes config.json with
# the stack's WebSocket URL (the client reads its URLs at run time, nothing is baked into the
# build), and invalidates index.html and config.json on the distribution (output WebDistributionId).
# Needs the aws CLI with credentials for the stack's account and region (AWS_REGION or aws configure).
set -euo pipefail
cd "$(dirname "$0")/.."

stack="${1:-${STACK_NAME:-switchboard}}"
command -v aws >/dev/null || { echo "publishing needs the aws CLI (https://aws.amazon.com/cli/)" >&2; exit 1; }

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
bucket=$(output WebBucketName)
distribution=$(output WebDistributionId)
websocket=$(output WebSocketUrl)
web=$(output WebUrl)
if [ -z "$bucket" ] || [ "$bucket" = None ]; then
  echo "stack $stack has no WebBucketName output: deploy this template (sam deploy) first" >&2
  exit 1
fi

scripts/web.sh build
echo "==> uploading web/dist to s3://$bucket"
aws s3 sync web/dist/assets "s3://$bucket/assets" --exclude "*.map" \
  --cache-control "public, max-age=31536000, immutable" --only-show-errors
aws s3 cp web/dist/index.html "s3://$bucket/index.html" \
  --cache-control "no-cache" --content-type "text/html; charset=utf-8" --only-show-errors
# apiUrl "": the app calls /api/* on its own origin, which CloudFront routes to the HTTP API.
config=$(mktemp)
printf '{"apiUrl":"","websocketUrl":"%s","standinUrl":null}\n' "$websocket" >"$config"
aws s3 cp "$config" "s3://$bucket/config.json" \
  --cache-control "no-cache" --content-type "application/json" --only-show-errors
rm -f "$config"
aws cloudfront create-invalidation --distribution-id "$distribution" \
  --paths /index.html /config.json / --query "Invalidation.Id" --output text >/dev/null
echo "==> published: $web"

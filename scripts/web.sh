#!/usr/bin/env bash
# The web client (web/, docs/web.md), for scripts/dev.sh, scripts/test.sh and
# scripts/publish-web.sh:
#   scripts/web.sh install   its pinned npm packages (npm ci), when web/package-lock.json changed
#   scripts/web.sh build     install, then `vite build` into web/dist
#   scripts/web.sh check     the API types are generated from docs/openapi.json as committed,
#                            `tsc --noEmit`, and the size budget (app JavaScript ≤ 150 KB gzipped)
#   scripts/web.sh serve     `vite preview` of web/dist on WEB_PORT: /api proxied to the local
#                            functions, /standin to the Twilio stand-in, /config.json for the stack
#   scripts/web.sh e2e       the browser tests (Playwright, Debian's Chromium) against SWITCHBOARD_WEB_URL
set -euo pipefail
cd "$(dirname "$0")/../web"

need_node() {
  if ! command -v node >/dev/null ||
    ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "the web client needs Node.js 20.19 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
  fi
}

install() {
  need_node
  local stamp=node_modules/.switchboard-package-lock.json
  if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then return 0; fi
  echo "==> npm ci (web/)"
  # Playwright drives Debian's Chromium; its own browser download is not reachable from here.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
}

case "${1:-}" in
  install) install ;;
  build)
    install
    node node_modules/vite/bin/vite.js build --logLevel warn
    ;;
  check)
    install
    node node_modules/openapi-typescript/bin/cli.js ../docs/openapi.json -o node_modules/.schema.d.ts >/dev/null
    if ! cmp -s node_modules/.schema.d.ts src/api/schema.d.ts; then
      echo "web/src/api/schema.d.ts is not generated from docs/openapi.json: run (cd web && npm run gen)" >&2
      exit 1
    fi
    node node_modules/typescript/bin/tsc --noEmit
    node node_modules/typescript/bin/tsc --noEmit -p tsconfig.node.json
    node scripts/size.mjs
    ;;
  serve)
    need_node
    exec node node_modules/vite/bin/vite.js preview --port "${WEB_PORT:-5173}" --strictPort
    ;;
  e2e)
    install
    shift
    exec node node_modules/@playwright/test/cli.js test "$@"
    ;;
  *)
    echo "usage: scripts/web.sh install|build|check|serve|e2e" >&2
    exit 2
    ;;
esac

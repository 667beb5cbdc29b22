// Vite builds the client into dist/ (served by CloudFront from S3 when deployed; by `vite
// preview` under `make dev`). Under `make dev` and `npm run dev` the server also:
//   - proxies /api to the local stack's functions (SWITCHBOARD_API_URL),
//   - proxies /standin to the local Twilio stand-in (SWITCHBOARD_STANDIN_URL), for the phones panel,
//   - answers /config.json, which a deployed stack writes next to the app (scripts/publish-web.sh).
import type { IncomingMessage, ServerResponse } from "node:http";
import { defineConfig, type ProxyOptions } from "vite";

const api = process.env.SWITCHBOARD_API_URL ?? "http://127.0.0.1:9000";
const websocket = process.env.SWITCHBOARD_WEBSOCKET_URL ?? "ws://127.0.0.1:9001/";
const standin = process.env.SWITCHBOARD_STANDIN_URL ?? "";

const proxy: Record<string, ProxyOptions> = { "/api": { target: api } };
if (standin) {
  proxy["/standin"] = { target: standin, rewrite: (path) => path.replace(/^\/standin/, "") };
}

// The client's runtime configuration (src/config.ts reads it).
function config(_req: IncomingMessage, res: ServerResponse) {
  const body = { apiUrl: "", websocketUrl: websocket, standinUrl: standin ? "/standin" : null };
  res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "no-store");
  res.end(JSON.stringify(body));
}

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { target: "es2022", sourcemap: true },
  server: { host: "127.0.0.1", proxy },
  preview: { host: "127.0.0.1", proxy },
  plugins: [
    {
      name: "switchboard-local-config",
      configureServer(server) {
        server.middlewares.use("/config.json", config);
      },
      configurePreviewServer(server) {
        server.middlewares.use("/config.json", config);
      },
    },
  ],
});

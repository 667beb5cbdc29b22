// Runtime configuration, read once at start from /config.json: written at deploy time next to
// the app (scripts/publish-web.sh), served by Vite under `make dev`. Nothing here is baked in at
// build time, so one build serves every stack.
export interface Config {
  /** Base of the REST API; "" means the app's own origin (CloudFront routes /api/* to it). */
  apiUrl: string;
  /** The WebSocket API (output WebSocketUrl, or the local stand-in). */
  websocketUrl: string;
  /** The local Twilio stand-in's phones API (only under `make dev`): shows the phones panel. */
  standinUrl: string | null;
}

let current: Config = { apiUrl: "", websocketUrl: "", standinUrl: null };

export async function loadConfig(): Promise<Config> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const raw = (await response.json()) as Partial<Config>;
  current = {
    apiUrl: (raw.apiUrl ?? "").replace(/\/$/, ""),
    websocketUrl: raw.websocketUrl ?? "",
    standinUrl: raw.standinUrl ? raw.standinUrl.replace(/\/$/, "") : null,
  };
  return current;
}

export function config(): Config {
  return current;
}

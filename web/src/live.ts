// The one WebSocket of a tab (docs/realtime.md). The access token travels as a subprotocol
// (`new WebSocket(url, ["bearer", token])`), since browsers cannot set headers on a socket. A
// dropped socket reconnects with exponential backoff (0.5 s doubling to 30 s, jittered), with a
// token refreshed first when needed; every reconnection after the first tells the app, which
// fetches what it missed over REST. A ping every 4 minutes keeps API Gateway's 10-minute idle
// timeout away.

import type { LiveEvent } from "./api/types";

export type LiveState = "connecting" | "open" | "offline";

export interface LiveOptions {
  url: string;
  /** A valid access token, or null when the session is over (then the socket stays closed). */
  token: () => Promise<string | null>;
  onEvent: (event: LiveEvent) => void;
  /**
   * The socket is open (again): fetch what was missed while it was not (events are not replayed;
   * the first opening also covers what happened between the first page loads and the socket).
   */
  onOpen: (reconnected: boolean) => void;
  onState: (state: LiveState) => void;
}

const PING_MS = 4 * 60 * 1000;
const BASE_MS = 500;
const MAX_MS = 30_000;

export class Live {
  private socket: WebSocket | null = null;
  private attempts = 0;
  private everOpen = false;
  private stopped = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private ping: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly options: LiveOptions) {
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
    void this.connect();
  }

  /** Tells the conversation's other web users that we are typing. */
  typing(conversationId: string) {
    this.send({ action: "typing", conversationId });
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    if (this.retry) clearTimeout(this.retry);
    if (this.ping) clearInterval(this.ping);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "logged out");
  }

  private send(frame: unknown) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  /** Back online, or the tab is visible again: reconnect now rather than at the next backoff. */
  private wake = () => {
    if (this.stopped || document.visibilityState === "hidden" || this.socket) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    void this.connect();
  };

  private async connect() {
    if (this.stopped || this.socket) return;
    this.options.onState("connecting");
    let token: string | null;
    try {
      token = await this.options.token();
    } catch {
      this.scheduleRetry();
      return;
    }
    if (!token || this.stopped) return;
    const socket = new WebSocket(this.options.url, ["bearer", token]);
    this.socket = socket;
    socket.onopen = () => {
      const again = this.everOpen;
      this.everOpen = true;
      this.attempts = 0;
      this.options.onState("open");
      this.ping = setInterval(() => this.send({ action: "ping" }), PING_MS);
      this.options.onOpen(again);
    };
    socket.onmessage = (message) => {
      let frame: LiveEvent | { type: "pong" | "error"; conversationId?: undefined };
      try {
        frame = JSON.parse(String(message.data)) as typeof frame;
      } catch {
        return;
      }
      // Pongs and error frames (a typing frame for a conversation we left) need nothing.
      if (frame.type === "pong" || frame.type === "error" || !frame.conversationId) return;
      this.options.onEvent(frame);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.ping) clearInterval(this.ping);
      this.ping = null;
      if (!this.stopped) this.scheduleRetry();
    };
  }

  private scheduleRetry() {
    this.options.onState("offline");
    const delay = Math.min(MAX_MS, BASE_MS * 2 ** this.attempts);
    this.attempts += 1;
    this.retry = setTimeout(
      () => {
        this.retry = null;
        void this.connect();
      },
      delay / 2 + (Math.random() * delay) / 2,
    );
  }
}

/** The tab's socket, while logged in (the screens send typing frames through it). */
export const liveSocket: { current: Live | null } = { current: null };

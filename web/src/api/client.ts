// Every call to the REST API goes through here. The session (access token, refresh token, user)
// lives in localStorage, shared by the tabs of one browser. An access token about to expire is
// refreshed before the call, silently; a 401 is answered by one refresh and one retry; when the
// refresh token is refused too, the session ends and the app shows the login screen.
import { config } from "../config";
import type {
  Contact,
  ContactPatch,
  Conversation,
  ImportReport,
  InboxLine,
  Message,
  NumberStatus,
  Participant,
  ParticipantRequest,
  ParticipantRole,
  PoolNumber,
  PublicUser,
  Schemas,
  Session,
  UploadTicket,
  User,
} from "./types";

/** The body of a send: `content` and/or `media` (upload ids). */
type SendBody = Schemas["SendRequest"];

/** An API error, in words a person can act on. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** What a person should read for an error. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.field && !error.message.toLowerCase().includes(error.field.toLowerCase())) {
      return `${error.message} (${error.field})`;
    }
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

// ---- the session --------------------------------------------------------------------------

export interface StoredSession {
  token: string;
  refreshToken: string;
  user: User;
}

const KEY = "switchboard.session";
type Listener = (session: StoredSession | null, reason?: string) => void;
const listeners = new Set<Listener>();
let session: StoredSession | null = read();

function read(): StoredSession | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as StoredSession) : null;
  } catch {
    return null;
  }
}

function store(next: StoredSession | null, reason?: string) {
  session = next;
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  for (const listener of listeners) listener(session, reason);
}

// Another tab logged in, refreshed or logged out.
window.addEventListener("storage", (event) => {
  if (event.key !== KEY) return;
  session = read();
  for (const listener of listeners) listener(session);
});

export function currentSession(): StoredSession | null {
  return session;
}

export function onSession(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function logout(reason?: string) {
  store(null, reason);
}

export function setUser(user: User) {
  if (session) store({ ...session, user });
}

/** Seconds since the epoch at which a JWT expires (0 when unreadable). */
function expiry(token: string): number {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return (JSON.parse(atob(payload)) as { exp?: number }).exp ?? 0;
  } catch {
    return 0;
  }
}

let refreshing: Promise<string | null> | null = null;

/** Trades the refresh token for a new pair (one call at a time). Null: the session is over. */
function refresh(): Promise<string | null> {
  refreshing ??= (async () => {
    const current = session;
    if (!current) return null;
    try {
      const next = await call<Session>("POST", "/api/auth/refresh", { refreshToken: current.refreshToken }, false);
      if (session?.refreshToken !== current.refreshToken) return session?.token ?? null; // another tab
      store({ token: next.token, refreshToken: next.refreshToken, user: next.user });
      return next.token;
    } catch (error) {
      if (error instanceof ApiError && error.status > 0 && error.status < 500) {
        logout("Your session has ended. Please log in again.");
        return null;
      }
      throw error;
    }
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** A valid access token: the current one, or a fresh one when it expires within a minute. */
export async function accessToken(): Promise<string | null> {
  if (!session) return null;
  if (expiry(session.token) - Date.now() / 1000 > 60) return session.token;
  return refresh();
}

// ---- calls --------------------------------------------------------------------------------

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One request with the session's token: refreshed before it expires, and once more on a 401. */
async function request(
  method: Method,
  path: string,
  body?: unknown,
  auth = true,
  headers: Record<string, string> = {},
  retried = false,
): Promise<Response> {
  const init: RequestInit = { method, headers: { ...headers } };
  const h = init.headers as Record<string, string>;
  if (body !== undefined) {
    h["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (auth) {
    const token = await accessToken();
    if (!token) throw new ApiError(401, "unauthorized", "Please log in.");
    h.authorization = `Bearer ${token}`;
  }
  let response: Response;
  try {
    response = await fetch(config().apiUrl + path, init);
  } catch {
    throw new ApiError(0, "network", "Switchboard cannot be reached. Check your connection and try again.");
  }
  if (response.status === 401 && auth && !retried) {
    const token = await refresh();
    if (!token) throw new ApiError(401, "unauthorized", "Your session has ended. Please log in again.");
    return request(method, path, body, auth, headers, true);
  }
  return response;
}

/** The body's text; an error answer (`{"error": …}`) becomes an ApiError. */
async function textOf(response: Response): Promise<string> {
  const text = await response.text();
  if (response.ok) return text;
  let error: { code?: string; message?: string; field?: string } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    error = undefined;
  }
  throw new ApiError(
    response.status,
    error?.code ?? "http_error",
    error?.message ?? `The server answered ${response.status} ${response.statusText}.`,
    error?.field ?? null,
  );
}

async function call<T>(
  method: Method,
  path: string,
  body?: unknown,
  auth = true,
  headers: Record<string, string> = {},
): Promise<T> {
  const text = await textOf(await request(method, path, body, auth, headers));
  try {
    return (text ? JSON.parse(text) : null) as T;
  } catch {
    return null as T;
  }
}

/** The target of `Link: <…>; rel="next"`, if any. */
function nextLink(header: string | null): string | null {
  const match = header?.match(/<([^>]+)>\s*;\s*rel="?next"?/);
  return match ? match[1] : null;
}

function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const enc = encodeURIComponent;

export interface Paged<T> {
  items: T[];
  nextCursor: string | null;
}

const page = <T>(items: T[], nextCursor: string | null | undefined): Paged<T> => ({ items, nextCursor: nextCursor ?? null });

// ---- the API ------------------------------------------------------------------------------

export type Registration = Schemas["RegisterRequest"];

export const api = {
  async register(registration: Registration): Promise<User> {
    const s = await call<Session>("POST", "/api/auth/register", registration, false);
    store({ token: s.token, refreshToken: s.refreshToken, user: s.user });
    return s.user;
  },
  async login(login: string, password: string): Promise<User> {
    const body = login.includes("@") ? { email: login, password } : { username: login, password };
    const s = await call<Session>("POST", "/api/auth/login", body, false);
    store({ token: s.token, refreshToken: s.refreshToken, user: s.user });
    return s.user;
  },
  async profile(): Promise<User> {
    const { user } = await call<Schemas["UserBody"]>("GET", "/api/users/profile");
    setUser(user);
    return user;
  },
  async updateProfile(changes: Schemas["ProfileUpdate"]) {
    const { user } = await call<Schemas["UserBody"]>("PUT", "/api/users/profile", changes);
    setUser(user);
    return user;
  },
  async takeNumber(phoneNumber?: string): Promise<User> {
    const { user } = await call<Schemas["UserBody"]>("POST", "/api/users/virtual-number", phoneNumber ? { phoneNumber } : {});
    setUser(user);
    return user;
  },
  async releaseNumber(): Promise<User> {
    const { user } = await call<Schemas["UserBody"]>("DELETE", "/api/users/virtual-number");
    setUser(user);
    return user;
  },
  async directory(q: string, cursor?: string | null, limit = 20): Promise<Paged<PublicUser>> {
    const r = await call<Schemas["UserPage"]>("GET", `/api/users${query({ q, cursor, limit })}`);
    return page(r.users, r.nextCursor);
  },
  async setUserActive(userId: string, active: boolean): Promise<User> {
    return (await call<Schemas["UserBody"]>("PUT", `/api/users/${enc(userId)}/status`, { active })).user;
  },
  async numbers(status: NumberStatus | "", cursor?: string | null, limit = 50): Promise<Paged<PoolNumber>> {
    const r = await call<Schemas["NumberPage"]>(
      "GET",
      `/api/numbers${query({ status, cursor, limit })}`,
    );
    return page(r.numbers, r.nextCursor);
  },
  async addNumber(phoneNumber: string): Promise<PoolNumber> {
    return (await call<Schemas["NumberBody"]>("POST", "/api/numbers", { phoneNumber })).number;
  },
  async removeNumber(phoneNumber: string): Promise<void> {
    await call("DELETE", `/api/numbers/${enc(phoneNumber)}`);
  },
  /** A page of the Twilio account's numbers, each with whether it is in the pool and where it points. */
  async twilioNumbers(pageToken?: string | null): Promise<Schemas["ProviderNumberPage"]> {
    return call<Schemas["ProviderNumberPage"]>("GET", `/api/numbers/twilio${query({ pageToken })}`);
  },
  /** Imports numbers of the account into the pool, pointing each at the inbound webhook. */
  async importNumbers(phoneNumbers: string[], takeOver: boolean): Promise<Schemas["NumberImportResult"][]> {
    const body = { phoneNumbers, takeOver };
    return (await call<Schemas["NumberImportReport"]>("POST", "/api/numbers/import", body)).results;
  },
  /** A page of the inbox; the first also carries the unread total over every conversation. */
  async inbox(cursor?: string | null, limit = 20): Promise<Paged<InboxLine> & { unreadTotal: number | null }> {
    const r = await call<Schemas["ConversationPage"]>(
      "GET",
      `/api/conversations${query({ cursor, limit })}`,
    );
    return { ...page(r.conversations, r.nextCursor), unreadTotal: r.unreadTotal ?? null };
  },
  /** Moves the read horizon to `messageId` (forward only); a read lost to a storm of messages
   * (409 `concurrent_update`) is tried once more. */
  async markRead(id: string, messageId: string): Promise<Schemas["ReadView"]> {
    const path = `/api/conversations/${enc(id)}/read`;
    try {
      return (await call<Schemas["ReadBody"]>("PUT", path, { messageId })).read;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
      return (await call<Schemas["ReadBody"]>("PUT", path, { messageId })).read;
    }
  },
  async conversation(id: string): Promise<Conversation> {
    return (await call<Schemas["ConversationBody"]>("GET", `/api/conversations/${enc(id)}`)).conversation;
  },
  async startDirect(userId: string): Promise<Conversation> {
    return (await call<Schemas["ConversationBody"]>("POST", "/api/conversations/direct", { userId })).conversation;
  },
  async startSms(phoneNumber: string, name?: string): Promise<Conversation> {
    const body = name ? { phoneNumber, name } : { phoneNumber };
    return (await call<Schemas["ConversationBody"]>("POST", "/api/conversations/sms", body)).conversation;
  },
  async startGroup(
    name: string,
    participants: ParticipantRequest[],
    description?: string,
  ): Promise<Conversation> {
    const body = { name, participants, ...(description ? { description } : {}) };
    return (await call<Schemas["ConversationBody"]>("POST", "/api/conversations/group", body)).conversation;
  },
  async closeConversation(id: string): Promise<Conversation> {
    return (await call<Schemas["ConversationBody"]>("DELETE", `/api/conversations/${enc(id)}`)).conversation;
  },
  /** An ISO-8601 duration (`P30D`), `"off"`, or null for the deployment's setting; admins only. */
  async setIdleTimer(id: string, closeAfter: string | null): Promise<Conversation> {
    const path = `/api/conversations/${enc(id)}/timers`;
    return (await call<Schemas["ConversationBody"]>("PUT", path, { closeAfter })).conversation;
  },
  async addParticipant(
    id: string,
    who: ParticipantRequest,
  ): Promise<Participant> {
    return (await call<Schemas["ParticipantBody"]>("POST", `/api/conversations/${enc(id)}/participants`, who))
      .participant;
  },
  async setRole(id: string, participantId: string, role: ParticipantRole): Promise<Participant> {
    const path = `/api/conversations/${enc(id)}/participants/${enc(participantId)}`;
    return (await call<Schemas["ParticipantBody"]>("PATCH", path, { role })).participant;
  },
  async removeParticipant(id: string, participantId: string): Promise<void> {
    await call("DELETE", `/api/conversations/${enc(id)}/participants/${enc(participantId)}`);
  },
  async history(id: string, cursor?: string | null, limit = 30): Promise<Paged<Message>> {
    const r = await call<Schemas["MessagePage"]>(
      "GET",
      `/api/conversations/${enc(id)}/messages${query({ cursor, limit })}`,
    );
    return page(r.messages, r.nextCursor);
  },
  /** Sends once: a retry with the same key answers with the first message. `media`: upload ids
   * (`createUpload`), whose files were PUT already; the text may then be empty. */
  async send(id: string, content: string, idempotencyKey: string, media: string[] = []): Promise<Message> {
    const path = `/api/conversations/${enc(id)}/messages`;
    const body: SendBody = media.length > 0 ? { ...(content ? { content } : {}), media } : { content };
    return (await call<Schemas["MessageBody"]>("POST", path, body, true, { "idempotency-key": idempotencyKey }))
      .message;
  },
  /** Starts an upload: a presigned PUT bound to the file's declared type and exact size. */
  async createUpload(contentType: string, size: number): Promise<UploadTicket> {
    const body: Schemas["UploadRequest"] = { contentType, size };
    return call<UploadTicket>("POST", "/api/uploads", body);
  },
  /** PUTs the file's bytes to the ticket's presigned URL (straight to the bucket, no token). */
  async putUpload(ticket: UploadTicket, file: Blob): Promise<void> {
    // Content-Length is the browser's to set (a forbidden header); the body's size is the one signed.
    // Only the headers the signature names go along (when the URL names them): anything else, such
    // as a tracing header, is no use to S3 and would need the bucket's CORS to allow it.
    const signed = new URL(ticket.url).searchParams.get("X-Amz-SignedHeaders")?.toLowerCase().split(";");
    const headers = Object.fromEntries(
      Object.entries(ticket.headers).filter(([name]) => {
        const lower = name.toLowerCase();
        return lower !== "content-length" && lower !== "host" && (!signed || signed.includes(lower));
      }),
    );
    let response: Response;
    try {
      response = await fetch(ticket.url, { method: ticket.method || "PUT", headers, body: file });
    } catch {
      throw new ApiError(0, "network", "the storage cannot be reached. Check your connection and try again.");
    }
    if (response.ok) return;
    throw new ApiError(
      response.status,
      "upload_refused",
      response.status === 403
        ? "the storage refused it (403): its type or size is not what was declared, or the upload link expired."
        : `the storage answered ${response.status} ${response.statusText}.`,
    );
  },
  async edit(messageId: string, content: string): Promise<Message> {
    return (await call<Schemas["MessageBody"]>("PUT", `/api/messages/${enc(messageId)}`, { content })).message;
  },
  async remove(messageId: string): Promise<Message> {
    return (await call<Schemas["MessageBody"]>("DELETE", `/api/messages/${enc(messageId)}`)).message;
  },
  /** The whole conversation as one file: every part the server answers, in order (CSV parts
   * join as they are; JSON parts' messages join into one document). */
  async exportConversation(id: string, format: "csv" | "json"): Promise<Blob> {
    const csv: string[] = [];
    const messages: Message[] = [];
    let path: string | null = `/api/conversations/${enc(id)}/export${query({ format })}`;
    while (path) {
      const response = await request("GET", path);
      const text = await textOf(response);
      if (format === "csv") csv.push(text);
      else messages.push(...(JSON.parse(text) as Schemas["ExportPage"]).messages);
      path = nextLink(response.headers.get("link"));
    }
    return format === "csv"
      ? new Blob(csv, { type: "text/csv;charset=utf-8" })
      : new Blob([JSON.stringify({ conversationId: id, messages }, null, 2)], { type: "application/json" });
  },
  async contacts(q: string, cursor?: string | null, limit = 50): Promise<Paged<Contact>> {
    const r = await call<Schemas["ContactPage"]>("GET", `/api/contacts${query({ q, cursor, limit })}`);
    return page(r.contacts, r.nextCursor);
  },
  async addContact(contact: Schemas["NewContactRequest"]): Promise<Contact> {
    return (await call<Schemas["ContactBody"]>("POST", "/api/contacts", contact)).contact;
  },
  async updateContact(id: string, changes: ContactPatch): Promise<Contact> {
    return (await call<Schemas["ContactBody"]>("PATCH", `/api/contacts/${enc(id)}`, changes)).contact;
  },
  async deleteContact(id: string): Promise<void> {
    await call("DELETE", `/api/contacts/${enc(id)}`);
  },
  /** The text of a .vcf file, sent as JSON (`{"vcard": …}`). */
  async importContacts(vcard: string): Promise<ImportReport> {
    return call<ImportReport>("POST", "/api/contacts/import", { vcard });
  },
};

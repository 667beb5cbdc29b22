// The app's state: the inbox, the conversations and their messages, who is typing. REST answers
// and live events both merge into it by id, so a message seen twice (our own send's answer and
// its `message.created` event, or a page fetched after a reconnection) is kept once.
import { useEffect, useState } from "preact/hooks";
import { api, currentSession } from "./api/client";
import type { Conversation, Delivery, DeliveryStatus, InboxLine, LiveEvent, Message } from "./api/types";
import type { LiveState } from "./live";

export interface Thread {
  /** Messages by id; ids are ULIDs, so sorting them sorts by time. */
  byId: Map<string, Message>;
  nextCursor: string | null;
  loaded: boolean;
  loadingOlder: boolean;
}

export interface Typist {
  name: string;
  until: number;
}

export const state = {
  inbox: [] as InboxLine[],
  inboxCursor: null as string | null,
  inboxLoaded: false,
  conversations: new Map<string, Conversation>(),
  threads: new Map<string, Thread>(),
  typing: new Map<string, Map<string, Typist>>(),
  live: "connecting" as LiveState,
  /** Unread messages over every conversation, as the inbox's first page summed them and as
   * events and reads changed them since; null until the inbox has loaded. */
  unreadTotal: null as number | null,
  /** The conversation on screen while the window is visible: what arrives there is read. */
  reading: null as string | null,
};

let version = 0;
const listeners = new Set<() => void>();

export function changed() {
  version += 1;
  for (const listener of listeners) listener();
}

/** Re-renders the component whenever the state changes. */
export function useStore(): number {
  const [, setSeen] = useState(version);
  useEffect(() => {
    const listener = () => setSeen(version);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return version;
}

export function reset() {
  state.inbox = [];
  state.inboxCursor = null;
  state.inboxLoaded = false;
  state.unreadTotal = null;
  state.conversations.clear();
  state.threads.clear();
  state.typing.clear();
  changed();
}

// ---- the inbox ----------------------------------------------------------------------------

function sortInbox() {
  state.inbox.sort((a, b) => (b.lastMessageAt ?? "").localeCompare(a.lastMessageAt ?? "") || b.id.localeCompare(a.id));
}

function mergeLines(lines: InboxLine[]) {
  for (const line of lines) {
    const i = state.inbox.findIndex((l) => l.id === line.id);
    if (i >= 0) state.inbox[i] = line;
    else state.inbox.push(line);
  }
  sortInbox();
}

/** The first page (again): new lines merged in, latest activity first. */
export async function loadInbox() {
  const page = await api.inbox();
  mergeLines(page.items);
  if (!state.inboxLoaded) state.inboxCursor = page.nextCursor;
  state.inboxLoaded = true;
  state.unreadTotal = page.unreadTotal;
  changed();
}

export async function loadMoreInbox() {
  if (!state.inboxCursor) return;
  const page = await api.inbox(state.inboxCursor);
  mergeLines(page.items);
  state.inboxCursor = page.nextCursor;
  changed();
}

/** Our own message, as the send answered it (its event may have come first, or not at all). */
export function noteSent(message: Message) {
  putMessage(message);
  touchLine(message.conversationId, message);
  changed();
}

/** Conversations being fetched because an event named one the inbox does not list. */
const fetching = new Set<string>();

function touchLine(conversationId: string, message: Message) {
  const line = state.inbox.find((l) => l.id === conversationId);
  if (!line) {
    // A conversation we were just added to, or one past the loaded pages: fetch that one
    // (putConversation adds its line), once however many events name it meanwhile.
    if (!fetching.has(conversationId)) {
      fetching.add(conversationId);
      void loadConversation(conversationId)
        .catch(() => undefined)
        .finally(() => fetching.delete(conversationId));
    }
    return;
  }
  if ((line.lastMessageAt ?? "") <= message.createdAt) {
    line.lastMessageAt = message.createdAt;
    line.lastMessagePreview = message.deleted ? "" : preview(message);
  }
  const mine = message.sender.kind === "user" && message.sender.userId === currentSession()?.user.id;
  if (!mine && !(line.lastReadMessageId && line.lastReadMessageId >= message.id)) {
    // As the server counts it; read at once where the reader is looking.
    setUnread(line, line.unreadCount + 1);
    if (state.reading === conversationId) void markRead(conversationId);
  }
  sortInbox();
}

/** A line's count changes, and the total with it. */
function setUnread(line: InboxLine, count: number) {
  if (state.unreadTotal !== null) state.unreadTotal = Math.max(0, state.unreadTotal + count - line.unreadCount);
  line.unreadCount = count;
}

/** Reads in flight, by conversation: one at a time, the newest asked for last. */
const marking = new Map<string, Promise<void>>();

/**
 * Marks the conversation read up to its newest loaded message, when that is past the line's
 * horizon and not our own (our own messages are never unread). Every device of ours hears of it
 * (`conversation.read`), so their counts follow.
 */
export async function markRead(id: string): Promise<void> {
  const line = state.inbox.find((l) => l.id === id);
  const newest = messagesOf(id).at(-1);
  // Nothing from others past the horizon: nothing to mark (our own messages are never unread).
  if (!line || !newest || line.unreadCount === 0 || (line.lastReadMessageId ?? "") >= newest.id) return;
  const previous = marking.get(id);
  const run = (async () => {
    await previous?.catch(() => undefined);
    if ((line.lastReadMessageId ?? "") >= newest.id) return;
    const read = await api.markRead(id, newest.id);
    applyRead(id, read.lastReadMessageId ?? null, read.unreadCount);
    changed();
  })();
  marking.set(id, run);
  try {
    await run;
  } finally {
    if (marking.get(id) === run) marking.delete(id);
  }
}

/** Our own read state in a conversation moved (our answer, or another device's event). */
function applyRead(id: string, lastRead: string | null, unreadCount: number | undefined) {
  const line = state.inbox.find((l) => l.id === id);
  if (line && lastRead && (line.lastReadMessageId ?? "") <= lastRead) {
    line.lastReadMessageId = lastRead;
    if (unreadCount !== undefined) setUnread(line, unreadCount);
  }
  const conversation = state.conversations.get(id);
  if (conversation && unreadCount !== undefined) conversation.unreadCount = unreadCount;
}

function preview(message: Message): string {
  if (!message.content && message.mediaUrls.length) return "[media]";
  // By characters, as the server cuts it (a UTF-16 cut could split an emoji).
  const characters = Array.from(message.content);
  return characters.length > 100 ? `${characters.slice(0, 100).join("")}…` : message.content;
}

// ---- conversations ------------------------------------------------------------------------

export async function loadConversation(id: string): Promise<Conversation> {
  const conversation = await api.conversation(id);
  putConversation(conversation);
  return conversation;
}

export function putConversation(conversation: Conversation) {
  state.conversations.set(conversation.id, conversation);
  const line = state.inbox.find((l) => l.id === conversation.id);
  if (line) {
    line.status = conversation.status;
    line.name = conversation.name;
    setUnread(line, conversation.unreadCount);
  } else {
    const me = currentSession()?.user.id;
    const mine = conversation.participants.find((p) => p.userId === me);
    state.inbox.push({
      id: conversation.id,
      type: conversation.type,
      name: conversation.name,
      status: conversation.status,
      role: mine?.role ?? "member",
      lastMessageAt: conversation.lastMessageAt ?? conversation.createdAt,
      lastMessagePreview: conversation.lastMessagePreview,
      unreadCount: conversation.unreadCount,
      lastReadMessageId: mine?.lastReadMessageId,
    });
    if (state.unreadTotal !== null) state.unreadTotal += conversation.unreadCount;
    sortInbox();
  }
  changed();
}

// ---- messages -----------------------------------------------------------------------------

const RANK: Record<DeliveryStatus, number> = {
  pending: 0,
  accepted: 1,
  queued: 2,
  sending: 3,
  sent: 4,
  delivered: 5,
  undelivered: 5,
  failed: 5,
  opted_out: 5,
  read: 6,
};

/** Statuses only move forward: an older answer never undoes a newer event. */
function mergeDelivery(old: Delivery | undefined, next: Delivery): Delivery {
  if (old && RANK[old.status] > RANK[next.status]) return { ...next, status: old.status, updatedAt: old.updatedAt };
  return next;
}

function thread(id: string): Thread {
  let t = state.threads.get(id);
  if (!t) {
    t = { byId: new Map(), nextCursor: null, loaded: false, loadingOlder: false };
    state.threads.set(id, t);
  }
  return t;
}

export function putMessage(message: Message) {
  const t = thread(message.conversationId);
  const old = t.byId.get(message.id);
  if (old) {
    const deliveries = message.deliveries.map((d) =>
      mergeDelivery(
        old.deliveries.find((o) => o.id === d.id),
        d,
      ),
    );
    // An edit or deletion wins over the original; otherwise keep whichever is newer.
    const newer = (message.editedAt ?? "") >= (old.editedAt ?? "") || message.deleted;
    t.byId.set(message.id, { ...(newer ? message : old), deleted: old.deleted || message.deleted, deliveries });
  } else {
    t.byId.set(message.id, message);
  }
}

export function messagesOf(id: string): Message[] {
  const t = state.threads.get(id);
  if (!t) return [];
  return [...t.byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

export function threadOf(id: string): Thread | undefined {
  return state.threads.get(id);
}

/** The newest page; on a reconnection, pages back until a message we had (at most 10 pages). */
export async function loadLatest(id: string) {
  const t = thread(id);
  const known = new Set(t.byId.keys());
  let cursor: string | null = null;
  for (let i = 0; i < 10; i += 1) {
    const page = await api.history(id, cursor);
    for (const message of page.items) putMessage(message);
    if (!t.loaded) t.nextCursor = page.nextCursor;
    cursor = page.nextCursor;
    if (!t.loaded || !cursor || page.items.some((m) => known.has(m.id))) break;
  }
  t.loaded = true;
  changed();
}

export async function loadOlder(id: string) {
  const t = thread(id);
  if (!t.nextCursor || t.loadingOlder) return;
  t.loadingOlder = true;
  changed();
  try {
    const page = await api.history(id, t.nextCursor);
    for (const message of page.items) putMessage(message);
    t.nextCursor = page.nextCursor;
  } finally {
    t.loadingOlder = false;
    changed();
  }
}

// ---- live events --------------------------------------------------------------------------

export function applyEvent(event: LiveEvent) {
  const id = event.conversationId;
  const me = currentSession()?.user.id;
  switch (event.type) {
    case "message.created":
    case "message.updated":
    case "message.deleted": {
      const message = event.payload;
      putMessage(message);
      // The inbox line's preview is the latest message as created (as the server keeps it).
      if (event.type === "message.created") touchLine(id, message);
      // A message ends its sender's typing.
      const typists = state.typing.get(id);
      if (typists && message.sender.userId) typists.delete(message.sender.userId);
      break;
    }
    case "delivery.updated": {
      const update = event.payload;
      const message = state.threads.get(id)?.byId.get(update.messageId);
      if (message) {
        const deliveries = message.deliveries.map((d) =>
          d.id === update.deliveryId
            ? mergeDelivery(d, {
                ...d,
                status: update.status,
                twilioSid: update.twilioSid ?? d.twilioSid,
                errorCode: update.errorCode ?? d.errorCode,
                attempts: update.attempts ?? d.attempts,
                nextAttemptAt: update.nextAttemptAt ?? d.nextAttemptAt,
                updatedAt: update.updatedAt,
              })
            : d,
        );
        state.threads.get(id)?.byId.set(message.id, { ...message, deliveries });
      }
      break;
    }
    case "participant.joined": {
      const participant = event.payload;
      const conversation = state.conversations.get(id);
      if (conversation && !conversation.participants.some((p) => p.id === participant.id)) {
        conversation.participants = [...conversation.participants, participant];
      }
      if (participant.userId === me) void loadInbox().catch(() => undefined);
      break;
    }
    case "participant.left": {
      const { participant, promoted } = event.payload;
      const conversation = state.conversations.get(id);
      if (conversation) {
        conversation.participants = conversation.participants
          .filter((p) => p.id !== participant.id)
          .map((p) => (promoted && p.id === promoted.id ? promoted : p));
      }
      if (participant.userId === me) {
        state.inbox = state.inbox.filter((l) => l.id !== id);
        state.conversations.delete(id);
      } else if (promoted?.userId === me) {
        const line = state.inbox.find((l) => l.id === id);
        if (line) line.role = "admin";
      }
      break;
    }
    case "conversation.closed": {
      const conversation = state.conversations.get(id);
      if (conversation) conversation.status = "closed";
      const line = state.inbox.find((l) => l.id === id);
      if (line) line.status = "closed";
      break;
    }
    case "conversation.read": {
      const { userId, participantId, lastReadMessageId, unreadCount } = event.payload;
      if (userId === me) applyRead(id, lastReadMessageId, unreadCount ?? undefined);
      const conversation = state.conversations.get(id);
      if (conversation) {
        conversation.participants = conversation.participants.map((p) =>
          p.id === participantId && (p.lastReadMessageId ?? "") < lastReadMessageId ? { ...p, lastReadMessageId } : p,
        );
      }
      break;
    }
    case "typing": {
      const { userId, displayName } = event.payload;
      let typists = state.typing.get(id);
      if (!typists) state.typing.set(id, (typists = new Map()));
      typists.set(userId, { name: displayName, until: Date.now() + 6000 });
      setTimeout(changed, 6100);
      break;
    }
    default:
      return;
  }
  changed();
}

export function typistsOf(id: string): string[] {
  const now = Date.now();
  const typists = state.typing.get(id);
  if (!typists) return [];
  return [...typists.values()].filter((t) => t.until > now).map((t) => t.name);
}

/**
 * When the socket opens (first, or again after a drop): the inbox's first page and the open
 * thread's missed messages, at once; other threads reload when next opened.
 */
export async function catchUp(openId: string | null) {
  for (const [id, t] of state.threads) if (id !== openId) t.loaded = false;
  const open = openId ? state.threads.get(openId) : undefined;
  await Promise.all([
    loadInbox(),
    ...(openId && open?.loaded ? [loadLatest(openId), loadConversation(openId)] : []),
  ]);
  // What arrived meanwhile in the conversation on screen has been seen.
  if (openId && state.reading === openId) await markRead(openId);
}

export function setLive(live: LiveState) {
  state.live = live;
  changed();
}

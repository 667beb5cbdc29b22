// The caller's contacts, loaded once per session (and again after each change on the Contacts
// screen): a phone's name wherever the phone shows. The server names phones in a conversation it
// is asked for, but the inbox only carries each SMS line's phone (reading contacts there would
// cost every inbox page a request), and live events carry the names stored with the
// conversation; this map names them all the same way.
import { api } from "./api/client";
import { changed } from "./store";

/** Contacts read at most: 20 pages of 100. */
const MAX_PAGES = 20;

const names = new Map<string, string>();

export async function loadContacts() {
  const next = new Map<string, string>();
  let cursor: string | null = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await api.contacts("", cursor, 100);
    for (const contact of page.items) next.set(contact.phoneNumber, contact.name);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  names.clear();
  for (const [phone, name] of next) names.set(phone, name);
  changed();
}

export function resetContacts() {
  names.clear();
}

/** The caller's name for a phone, if they have a contact for it. */
export function contactName(phone: string | null | undefined): string | undefined {
  return phone ? names.get(phone) : undefined;
}

/** What a conversation is called for the caller: a group its name, a one-to-one SMS
 * conversation the contact of its phone when there is one. */
export function titleOf(conversation: {
  type: string;
  name: string;
  phoneNumber?: string | null;
  participants?: { kind: string; phoneNumber?: string | null }[];
}): string {
  if (conversation.type !== "sms") return conversation.name;
  const phone = conversation.phoneNumber ?? conversation.participants?.find((p) => p.kind === "sms")?.phoneNumber;
  return contactName(phone) ?? conversation.name;
}

import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, currentSession, describeError } from "../api/client";
import type { Conversation, Message, Participant } from "../api/types";
import { contactName, titleOf } from "../contacts";
import { liveSocket } from "../live";
import { MAX_FILES, MEDIA_TYPES, admit, isImage, sizeText, type Attachment } from "../media";
import { encodingName, segments, smsBody } from "../sms";
import {
  loadConversation,
  loadLatest,
  loadOlder,
  markRead,
  messagesOf,
  noteSent,
  putMessage,
  changed,
  state,
  threadOf,
  typistsOf,
  useStore,
} from "../store";
import { Confirm, ErrorText, Time, randomKey, useAction } from "../ui";

const KIND = { direct: "Direct conversation", sms: "SMS conversation", group: "Group" };

export function ConversationScreen({ id }: { id: string }) {
  useStore();
  const load = useAction();
  useEffect(() => {
    void load.run(async () => {
      await Promise.all([loadConversation(id), loadLatest(id)]);
      if (document.visibilityState === "visible") await markRead(id);
    });
  }, [id]);
  useReading(id);
  const conversation = state.conversations.get(id);
  if (!conversation) {
    return (
      <div class="screen">
        {load.error ? <ErrorText error={load.error} /> : <p class="muted">Loading the conversation…</p>}
        <a href="#/">Back to the inbox</a>
      </div>
    );
  }
  const me = currentSession()?.user.id;
  const mine = conversation.participants.find((p) => p.userId === me) ?? null;
  const phones = conversation.participants.filter((p) => p.kind === "sms");
  return (
    <div class="conversation">
      <div class="conversation-head">
        <a class="back" href="#/">
          <span aria-hidden="true">←</span> <span class="visually-hidden">Back to the </span>Inbox
        </a>
        <div class="title">
          <h1>{titleOf(conversation) || "(no name)"}</h1>
          <p class="muted">
            {KIND[conversation.type]}
            {phones.length > 0 && ` · ${phones.map((p) => p.phoneNumber).join(", ")}`}
            {conversation.status === "closed" && " · closed"}
          </p>
        </div>
        <Export id={id} />
        <a class="button" href={`#/c/${encodeURIComponent(id)}/people`}>
          People ({conversation.participants.length})
        </a>
      </div>
      <MessageList conversation={conversation} me={me ?? ""} />
      <Typing id={id} />
      <ErrorText error={load.error} />
      {conversation.status === "closed" ? (
        <p class="notice">This conversation is closed: its history stays, nothing more can be sent.</p>
      ) : (
        <Composer conversation={conversation} mine={mine} hasPhones={phones.length > 0} />
      )}
    </div>
  );
}

/**
 * While this conversation is on screen and the window visible, what arrives in it is read at
 * once (the store marks it); coming back to the window marks what arrived meanwhile.
 */
function useReading(id: string) {
  useEffect(() => {
    const update = () => {
      const visible = document.visibilityState === "visible";
      state.reading = visible ? id : null;
      if (visible) void markRead(id).catch(() => undefined);
    };
    update();
    document.addEventListener("visibilitychange", update);
    return () => {
      document.removeEventListener("visibilitychange", update);
      if (state.reading === id) state.reading = null;
    };
  }, [id]);
}

/** Downloads the whole conversation (every part of the export) as one CSV or JSON file. */
function Export({ id }: { id: string }) {
  const action = useAction();
  async function save(format: "csv" | "json") {
    const file = await action.run(() => api.exportConversation(id, format));
    if (!file) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(file);
    link.download = `conversation-${id}.${format}`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 0);
  }
  return (
    <div class="export" role="group" aria-label="Export the conversation">
      {(["csv", "json"] as const).map((format) => (
        <button key={format} type="button" disabled={action.busy} onClick={() => void save(format)}>
          {action.busy ? "Exporting…" : `Export ${format.toUpperCase()}`}
        </button>
      ))}
      <ErrorText error={action.error} />
    </div>
  );
}

function MessageList({ conversation, me }: { conversation: Conversation; me: string }) {
  const list = useRef<HTMLDivElement>(null);
  const thread = threadOf(conversation.id);
  const messages = messagesOf(conversation.id);
  const older = useAction();
  const pinned = useRef(true);
  const before = useRef<number | null>(null);
  const last = messages.length ? messages[messages.length - 1].id : "";

  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (before.current !== null) {
      // Older messages were added above: keep what the reader was looking at in place.
      el.scrollTop += el.scrollHeight - before.current;
      before.current = null;
    } else if (pinned.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  function onScroll() {
    const el = list.current;
    if (el) pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  function showOlder() {
    before.current = list.current?.scrollHeight ?? null;
    void older.run(() => loadOlder(conversation.id));
  }

  return (
    <div class="message-scroll" ref={list} onScroll={onScroll} data-last={last}>
      {thread?.nextCursor && (
        <button type="button" class="older" disabled={thread.loadingOlder} onClick={showOlder}>
          {thread.loadingOlder ? "Loading…" : "Load older messages"}
        </button>
      )}
      <ErrorText error={older.error} />
      {thread?.loaded && messages.length === 0 && <p class="muted center">No messages yet: say hello.</p>}
      <div role="log" aria-label="Messages">
        <ol class="messages">
        {messages.map((m) => (
          <MessageItem key={m.id} message={m} mine={m.sender.kind === "user" && m.sender.userId === me} conversation={conversation} />
        ))}
        {seenBy(conversation, messages, me)}
        </ol>
      </div>
    </div>
  );
}

/**
 * "Seen by": the other web members whose read horizon (Twilio Conversations' read horizon)
 * reaches the newest message, or who wrote it, shown under it as chat apps do.
 */
function seenBy(conversation: Conversation, messages: Message[], me: string) {
  const newest = messages.at(-1);
  if (conversation.type === "sms" || !newest) return null;
  const readers = conversation.participants
    .filter((p) => p.kind === "user" && p.userId !== me && p.userId !== newest.sender.userId)
    .filter((p) => (p.lastReadMessageId ?? "") >= newest.id)
    .map((p) => p.displayName);
  return readers.length > 0 ? (
    <li class="seen" data-seen-by={readers.join(",")}>
      Seen by {readers.join(", ")}
    </li>
  ) : null;
}

function MessageItem({ message, mine, conversation }: { message: Message; mine: boolean; conversation: Conversation }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(message.content);
  const action = useAction();
  const sender = contactName(message.sender.phoneNumber) || message.sender.displayName || message.sender.phoneNumber || "Someone";
  const kind = message.sender.kind;

  async function save() {
    const updated = await action.run(() => api.edit(message.id, text));
    if (updated) {
      putMessage(updated);
      changed();
      setEditing(false);
    }
  }

  async function remove() {
    const updated = await action.run(() => api.remove(message.id));
    if (updated) {
      putMessage(updated);
      changed();
    }
  }

  return (
    <li class={`message ${mine ? "mine" : ""} ${kind}`} data-message-id={message.id}>
      <div class="bubble">
        <div class="meta">
          <span class="sender">
            {mine ? "You" : sender}
            {kind === "sms" && <span class="via"> by SMS</span>}
          </span>
          <Time iso={message.createdAt} />
          {message.editedAt && !message.deleted && <span class="muted"> (edited)</span>}
        </div>
        {message.deleted ? (
          <p class="content deleted">This message was deleted.</p>
        ) : editing ? (
          <form
            class="edit"
            onSubmit={(e) => {
              e.preventDefault();
              void save();
            }}
          >
            <label for={`edit-${message.id}`}>Edit message</label>
            <textarea id={`edit-${message.id}`} value={text} onInput={(e) => setText(e.currentTarget.value)} rows={3} />
            <div class="row">
              <button type="submit" class="primary" disabled={action.busy || !text.trim()}>
                Save
              </button>
              <button type="button" onClick={() => setEditing(false)}>
                Cancel
              </button>
            </div>
          </form>
        ) : message.content || message.mediaUrls.length === 0 ? (
          <p class="content">{message.content}</p>
        ) : null}
        {message.mediaUrls.length > 0 && !message.deleted && (
          <ul class="media">
            {message.mediaUrls.map((url, i) => (
              <li key={i}>
                <MediaItem url={url} contentType={message.mediaContentTypes[i]} n={i + 1} />
              </li>
            ))}
          </ul>
        )}
        {message.deliveries.length > 0 && <Deliveries message={message} participants={conversation.participants} />}
        <ErrorText error={action.error} />
        {mine && !message.deleted && !editing && conversation.status === "active" && (
          <div class="actions">
            <button
              type="button"
              class="link"
              onClick={() => {
                setText(message.content);
                setEditing(true);
              }}
            >
              Edit<span class="visually-hidden"> message</span>
            </button>
            <Confirm
              className="link"
              action={
                <>
                  Delete<span class="visually-hidden"> message</span>
                </>
              }
              question="Delete this message?"
              yes="Yes, delete"
              no="Keep it"
              busy={action.busy}
              onYes={() => void remove()}
            />
          </div>
        )}
      </div>
    </li>
  );
}

/**
 * One of a message's media: a picture inline (opens full size in a new tab), anything else or of
 * no known type as a link. The URLs are short-lived presigned GETs: a picture that no longer
 * loads becomes its link too.
 */
function MediaItem({ url, contentType, n }: { url: string; contentType: string | undefined; n: number }) {
  const [broken, setBroken] = useState(false);
  if (!isImage(contentType) || broken) {
    return (
      <a href={url} target="_blank" rel="noreferrer">
        Attachment {n}
      </a>
    );
  }
  return (
    <a href={url} target="_blank" rel="noreferrer" class="picture">
      <img src={url} alt={`Picture ${n}`} loading="lazy" onError={() => setBroken(true)} />
    </a>
  );
}

function Deliveries({ message, participants }: { message: Message; participants: Participant[] }) {
  return (
    <ul class="deliveries" aria-label="Delivery by SMS">
      {message.deliveries.map((d) => {
        const who = contactName(d.phoneNumber) ?? participants.find((p) => p.id === d.participantId)?.displayName;
        const failed = ["failed", "undelivered", "opted_out"].includes(d.status);
        return (
          <li key={d.id} class={`delivery ${failed ? "failed" : ""}`} data-status={d.status} data-phone={d.phoneNumber}>
            <span>
              To {who && who !== d.phoneNumber ? `${who} (${d.phoneNumber})` : d.phoneNumber}
              {d.from && <span class="muted"> from {d.from}</span>}:{" "}
            </span>
            <strong class="status">{d.status.replace("_", " ")}</strong>
            <span class="muted">
              {" "}
              · {d.segments} {d.segments === 1 ? "segment" : "segments"}, {encodingName(d.encoding)}
            </span>
            {d.status === "pending" && (d.attempts ?? 0) > 0 && <span class="muted"> · retrying after attempt {d.attempts}</span>}
            {d.errorMessage && <span class="error-inline"> · {d.errorMessage}</span>}
          </li>
        );
      })}
    </ul>
  );
}

function Typing({ id }: { id: string }) {
  const names = typistsOf(id);
  const text =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  return (
    <p class="typing" role="status" aria-live="polite">
      {text}
    </p>
  );
}

function Composer({ conversation, mine, hasPhones }: { conversation: Conversation; mine: Participant | null; hasPhones: boolean }) {
  const [text, setText] = useState("");
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [refused, setRefused] = useState<string[]>([]);
  const [progress, setProgress] = useState("");
  const send = useAction();
  const lastTyping = useRef(0);
  const key = useRef(randomKey());
  const prefix = conversation.type === "group" ? (mine?.displayName ?? "") : null;
  // Counted on the text as the server stores it (trimmed).
  const body = text.trim();
  const sms = segments(body ? smsBody(prefix, body) : "");
  const total = attachments.reduce((sum, a) => sum + a.file.size, 0);

  // The previews' object URLs live as long as their chips.
  const previews = useRef(attachments);
  previews.current = attachments;
  useEffect(() => () => previews.current.forEach((a) => URL.revokeObjectURL(a.preview)), []);

  function typed(value: string) {
    setText(value);
    const now = Date.now();
    if (value && now - lastTyping.current > 3000) {
      lastTyping.current = now;
      liveSocket.current?.typing(conversation.id);
    }
  }

  function choose(input: HTMLInputElement) {
    const chosen = Array.from(input.files ?? []);
    input.value = ""; // the same file may be chosen again after a removal
    const { accepted, refused: reasons } = admit(
      attachments.map((a) => a.file),
      chosen,
    );
    setRefused(reasons);
    if (accepted.length === 0) return;
    send.setError(null);
    key.current = randomKey(); // another message than the one a failed send may have tried
    setAttachments([
      ...attachments,
      ...accepted.map((file) => ({ key: randomKey(), file, preview: URL.createObjectURL(file) })),
    ]);
  }

  function drop(which: Attachment) {
    URL.revokeObjectURL(which.preview);
    setAttachments(attachments.filter((a) => a !== which));
    setRefused([]);
    key.current = randomKey();
  }

  /** PUTs each file not uploaded yet (a retry after a failed send reuses the uploads it made). */
  async function upload(list: Attachment[]): Promise<string[]> {
    const ids: string[] = [];
    for (const [i, a] of list.entries()) {
      if (!a.uploadId) {
        setProgress(`Uploading ${list.length === 1 ? "the picture" : `picture ${i + 1} of ${list.length}`}…`);
        try {
          const ticket = await api.createUpload(a.file.type, a.file.size);
          await api.putUpload(ticket, a.file);
          a.uploadId = ticket.uploadId;
        } catch (error) {
          throw new Error(`“${a.file.name}” could not be uploaded: ${describeError(error)} Nothing was sent.`);
        }
      }
      ids.push(a.uploadId);
    }
    return ids;
  }

  async function submit() {
    const content = text.trim();
    if ((!content && attachments.length === 0) || send.busy) return;
    const list = attachments;
    // The same key on a retry of this text: the server sends it once.
    const sent = await send.run(async () => {
      const media = list.length > 0 ? await upload(list) : [];
      setProgress(list.length > 0 ? "Sending…" : "");
      return api.send(conversation.id, content, key.current, media);
    });
    setProgress("");
    if (sent) {
      noteSent(sent);
      setText("");
      list.forEach((a) => URL.revokeObjectURL(a.preview));
      setAttachments([]);
      setRefused([]);
      key.current = randomKey();
      lastTyping.current = 0;
    }
  }

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label for="composer-text">Message</label>
      <div class="composer-row">
        <textarea
          id="composer-text"
          rows={2}
          value={text}
          aria-describedby="composer-count"
          placeholder="Write a message (Enter sends, Shift+Enter starts a new line)"
          onInput={(e) => typed(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void submit();
            }
          }}
        />
        <div class="attach">
          <input
            id="composer-files"
            class="visually-hidden"
            type="file"
            accept={MEDIA_TYPES.join(",")}
            multiple
            disabled={send.busy}
            aria-describedby="composer-files-hint"
            onChange={(e) => choose(e.currentTarget)}
          />
          <label for="composer-files" class="button">
            Attach<span class="visually-hidden"> pictures</span>
          </label>
        </div>
        <button type="submit" class="primary" disabled={send.busy || (!text.trim() && attachments.length === 0)}>
          {send.busy ? "Sending…" : "Send"}
        </button>
      </div>
      <p id="composer-files-hint" class="visually-hidden">
        JPEG, PNG or GIF pictures: at most {MAX_FILES}, 5 MB in total.
      </p>
      {attachments.length > 0 && (
        <ul class="attachments" aria-label="Attached pictures">
          {attachments.map((a) => (
            <li key={a.key} class="attachment" data-file={a.file.name}>
              <img src={a.preview} alt="" />
              <span class="name">{a.file.name}</span>
              <span class="muted">{sizeText(a.file.size)}</span>
              <button type="button" class="small" disabled={send.busy} onClick={() => drop(a)}>
                Remove<span class="visually-hidden"> {a.file.name}</span>
              </button>
            </li>
          ))}
          <li class="muted total">
            {attachments.length} of {MAX_FILES} · {sizeText(total)} of 5 MB
          </li>
        </ul>
      )}
      {refused.length > 0 && (
        <div class="error" role="alert" data-testid="attach-refused">
          {refused.map((reason) => (
            <p key={reason}>{reason}</p>
          ))}
        </div>
      )}
      {progress && (
        <p class="progress muted" role="status">
          {progress}
        </p>
      )}
      <p id="composer-count" class="count" aria-live="off">
        {text.length} {text.length === 1 ? "character" : "characters"}
        {hasPhones && (
          <>
            {" · "}
            <span data-testid="segments">
              {sms.count} SMS {sms.count === 1 ? "segment" : "segments"}
            </span>
            {" · "}
            <span data-testid="encoding">{encodingName(sms.encoding)}</span>
            {` · ${sms.remaining} left in this segment`}
            {prefix !== null && text && <span class="muted"> (phones get “{prefix}: …”)</span>}
            {attachments.length > 0 && <span class="muted"> · with pictures, phones get an MMS</span>}
          </>
        )}
      </p>
      <ErrorText error={send.error} />
    </form>
  );
}

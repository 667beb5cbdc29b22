import { loadMoreInbox, state, useStore } from "../store";
import { titleOf } from "../contacts";
import { ErrorText, Time, useAction } from "../ui";

const KIND = { direct: "Direct", sms: "SMS", group: "Group" };

/** The caller's conversations, latest activity first, kept current by live events. */
export function Inbox({ selected }: { selected: string | null }) {
  useStore();
  const more = useAction();
  return (
    <div class="inbox">
      <div class="pane-head">
        <h2 id="inbox-title">
          Inbox
          {!!state.unreadTotal && (
            <span class="unread total" aria-label={`${state.unreadTotal} unread in all`}>
              {state.unreadTotal}
            </span>
          )}
        </h2>
        <a class="button small" href="#/new">
          New
        </a>
      </div>
      {!state.inboxLoaded && <p class="muted">Loading conversations…</p>}
      {state.inboxLoaded && state.inbox.length === 0 && (
        <p class="muted">No conversations yet. Start one with “New”.</p>
      )}
      <ul class="inbox-list">
        {state.inbox.map((line) => (
          <li key={line.id}>
            <a
              href={`#/c/${encodeURIComponent(line.id)}`}
              aria-current={line.id === selected ? "page" : undefined}
              class={`${line.status === "closed" ? "closed" : ""}${line.unreadCount > 0 ? " has-unread" : ""}`.trim() || undefined}
            >
              <span class="line-top">
                <span class="line-name">{titleOf(line) || "(no name)"}</span>
                {line.unreadCount > 0 && (
                  <span class="unread" aria-label={`${line.unreadCount} unread`} data-unread={line.unreadCount}>
                    {line.unreadCount}
                  </span>
                )}
                <Time iso={line.lastMessageAt} />
              </span>
              <span class="line-bottom">
                <span class={`badge ${line.type}`}>{KIND[line.type]}</span>
                {line.status === "closed" && <span class="badge">Closed</span>}
                <span class="line-preview">{line.lastMessagePreview || "No messages yet"}</span>
              </span>
            </a>
          </li>
        ))}
      </ul>
      <ErrorText error={more.error} />
      {state.inboxCursor && (
        <button type="button" disabled={more.busy} onClick={() => void more.run(loadMoreInbox)}>
          {more.busy ? "Loading…" : "Load more conversations"}
        </button>
      )}
    </div>
  );
}

import { useEffect, useState } from "preact/hooks";
import { api, currentSession } from "../api/client";
import type { Participant } from "../api/types";
import { contactName } from "../contacts";
import { go } from "../router";
import { changed, loadConversation, loadInbox, putConversation, state, useStore } from "../store";
import { Confirm, ErrorText, Field, Screen, useAction } from "../ui";
import { IdleTimer } from "./IdleTimer";
import { UserPicker } from "./UserPicker";

/** Who is in a conversation; admins of a group add, remove and promote; anyone may leave. */
export function People({ id }: { id: string }) {
  useStore();
  const load = useAction();
  const act = useAction();
  const [phone, setPhone] = useState("");
  const [phoneName, setPhoneName] = useState("");
  useEffect(() => {
    void load.run(() => loadConversation(id));
  }, [id]);
  const conversation = state.conversations.get(id);
  if (!conversation) {
    return (
      <Screen title="People">
        {load.error ? <ErrorText error={load.error} /> : <p class="muted">Loading…</p>}
      </Screen>
    );
  }
  const me = currentSession()?.user.id;
  const mine = conversation.participants.find((p) => p.userId === me);
  const group = conversation.type === "group";
  const active = conversation.status === "active";
  const admin = mine?.role === "admin" && active;

  async function refresh() {
    await loadConversation(id);
  }

  async function leave() {
    if (!mine) return;
    const done = await act.run(async () => {
      await api.removeParticipant(id, mine.id);
      return true;
    });
    if (done) {
      state.inbox = state.inbox.filter((l) => l.id !== id);
      state.conversations.delete(id);
      changed();
      void loadInbox().catch(() => undefined);
      go({ name: "home" });
    }
  }

  const describe = (p: Participant) =>
    p.kind === "sms" ? `${p.phoneNumber}${p.proxyNumber ? `, texts ${p.proxyNumber}` : ""}` : "web user";

  return (
    <Screen
      title={`People in ${conversation.name || "this conversation"}`}
      actions={
        <a class="button" href={`#/c/${encodeURIComponent(id)}`}>
          Back to the conversation
        </a>
      }
    >
      <ul class="people">
        {conversation.participants.map((p) => (
          <li key={p.id} data-participant={p.phoneNumber ?? p.userId ?? ""}>
            <span>
              <strong>{contactName(p.phoneNumber) || p.displayName || p.phoneNumber}</strong>
              {p.userId === me && " (you)"} <span class="muted">· {describe(p)}</span>
              {p.role === "admin" && <span class="badge">admin</span>}
            </span>
            {admin && group && p.userId !== me && (
              <span class="row">
                {p.kind === "user" && (
                  <button
                    type="button"
                    class="small"
                    disabled={act.busy}
                    onClick={() =>
                      void act.run(async () => {
                        await api.setRole(id, p.id, p.role === "admin" ? "member" : "admin");
                        await refresh();
                      })
                    }
                  >
                    {p.role === "admin" ? "Make member" : "Make admin"}
                    <span class="visually-hidden"> {p.displayName}</span>
                  </button>
                )}
                <button
                  type="button"
                  class="small danger"
                  disabled={act.busy}
                  onClick={() =>
                    void act.run(async () => {
                      await api.removeParticipant(id, p.id);
                      await refresh();
                    })
                  }
                >
                  Remove<span class="visually-hidden"> {p.displayName || p.phoneNumber}</span>
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      <ErrorText error={act.error} />
      {!group && <p class="muted">Direct and SMS conversations keep their two members.</p>}
      {admin && group && (
        <section aria-labelledby="add-title" class="card">
          <h2 id="add-title">Add people</h2>
          <UserPicker
            action="Add"
            exclude={conversation.participants.map((p) => p.userId ?? "")}
            onPick={(user) =>
              void act.run(async () => {
                await api.addParticipant(id, { userId: user.id });
                await refresh();
              })
            }
          />
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void act.run(async () => {
                await api.addParticipant(id, { phoneNumber: phone, ...(phoneName.trim() ? { displayName: phoneName.trim() } : {}) });
                setPhone("");
                setPhoneName("");
                await refresh();
              });
            }}
          >
            <Field label="Phone number" type="tel" value={phone} onValue={setPhone} hint="Any notation, e.g. (415) 555-0177 or +44 20 7946 0958." required />
            <Field label="Name (optional)" value={phoneName} onValue={setPhoneName} />
            <button type="submit" disabled={act.busy}>
              Add phone
            </button>
          </form>
        </section>
      )}
      <IdleTimer conversation={conversation} admin={admin} />
      {mine && active && (group || mine.role === "admin") && (
        <div class="row">
          {group && (
            <Confirm action="Leave conversation" question="Leave this group?" yes="Yes, leave" no="Stay" busy={act.busy} onYes={() => void leave()} />
          )}
          {mine.role === "admin" && (
            <Confirm
              className=""
              action="Close conversation"
              question="Close it for everyone? History stays readable; nothing more can be sent."
              yes="Yes, close"
              no="Keep it open"
              busy={act.busy}
              onYes={() =>
                void act.run(async () => {
                  putConversation(await api.closeConversation(id));
                })
              }
            />
          )}
        </div>
      )}
    </Screen>
  );
}

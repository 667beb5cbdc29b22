import { useState } from "preact/hooks";
import { api, currentSession } from "../api/client";
import type { Conversation, PublicUser } from "../api/types";
import { go } from "../router";
import { putConversation } from "../store";
import { ErrorText, Field, Screen, nameOf, useAction } from "../ui";
import { UserPicker } from "./UserPicker";

type Kind = "sms" | "direct" | "group";

interface PhoneRow {
  key: number;
  phoneNumber: string;
  displayName: string;
}

let rowKey = 0;
const newRow = (): PhoneRow => ({ key: (rowKey += 1), phoneNumber: "", displayName: "" });

export function NewConversation() {
  const [kind, setKind] = useState<Kind>("sms");
  const start = useAction();
  const user = currentSession()?.user;

  function opened(conversation: Conversation | undefined) {
    if (!conversation) return;
    putConversation(conversation);
    go({ name: "conversation", id: conversation.id });
  }

  return (
    <Screen title="New conversation">
      <fieldset class="kinds">
        <legend>Kind of conversation</legend>
        {(
          [
            ["sms", "SMS with a phone", "Text a phone from your own number."],
            ["direct", "Direct, with a user", "A one-to-one conversation in the app."],
            ["group", "Group", "Users and phones together; each phone texts its own number."],
          ] as const
        ).map(([value, label, hint]) => (
          <label key={value} class="kind">
            <input type="radio" name="kind" value={value} checked={kind === value} onChange={() => setKind(value)} />
            <span>
              <strong>{label}</strong>
              <small class="hint">{hint}</small>
            </span>
          </label>
        ))}
      </fieldset>
      {kind === "sms" && (
        <SmsForm busy={start.busy} hasNumber={!!user?.virtualPhoneNumber} onStart={(p, n) => void start.run(() => api.startSms(p, n)).then(opened)} />
      )}
      {kind === "direct" && (
        <section aria-label="Pick a user">
          <UserPicker action="Start conversation with" onPick={(u) => void start.run(() => api.startDirect(u.id)).then(opened)} />
        </section>
      )}
      {kind === "group" && <GroupForm busy={start.busy} onStart={(run) => void start.run(run).then(opened)} />}
      <ErrorText error={start.error} />
    </Screen>
  );
}

function SmsForm({ busy, hasNumber, onStart }: { busy: boolean; hasNumber: boolean; onStart: (phone: string, name?: string) => void }) {
  const [phone, setPhone] = useState("");
  const [name, setName] = useState("");
  return (
    <form
      class="card"
      aria-label="SMS conversation"
      onSubmit={(e) => {
        e.preventDefault();
        onStart(phone.trim(), name.trim() || undefined);
      }}
    >
      {!hasNumber && (
        <p class="notice">
          SMS conversations go out from your virtual number: <a href="#/profile">take one on your profile</a> first.
        </p>
      )}
      <Field label="Phone number" type="tel" value={phone} onValue={setPhone} hint="Any notation: +1 415 555 0177, (415) 555-0177, 020 7946 0958…" required />
      <Field label="Name (optional)" value={name} onValue={setName} />
      <button type="submit" class="primary" disabled={busy}>
        Start SMS conversation
      </button>
    </form>
  );
}

function GroupForm({ busy, onStart }: { busy: boolean; onStart: (run: () => Promise<Conversation>) => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [users, setUsers] = useState<PublicUser[]>([]);
  const [phones, setPhones] = useState<PhoneRow[]>([newRow()]);
  const setRow = (key: number, change: Partial<PhoneRow>) =>
    setPhones((rows) => rows.map((r) => (r.key === key ? { ...r, ...change } : r)));
  return (
    <form
      class="card"
      aria-label="Group conversation"
      onSubmit={(e) => {
        e.preventDefault();
        const participants = [
          ...users.map((u) => ({ userId: u.id })),
          ...phones
            .filter((p) => p.phoneNumber.trim())
            .map((p) => ({ phoneNumber: p.phoneNumber.trim(), ...(p.displayName.trim() ? { displayName: p.displayName.trim() } : {}) })),
        ];
        onStart(() => api.startGroup(name.trim(), participants, description.trim() || undefined));
      }}
    >
      <Field label="Group name" value={name} onValue={setName} required />
      <Field label="Description (optional)" value={description} onValue={setDescription} />
      <h2>Users</h2>
      {users.length > 0 && (
        <ul class="chips" aria-label="Users in the group">
          {users.map((u) => (
            <li key={u.id}>
              {nameOf(u)}
              <button type="button" class="small" onClick={() => setUsers(users.filter((x) => x.id !== u.id))}>
                Remove <span class="visually-hidden">{u.username}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <UserPicker action="Add" exclude={users.map((u) => u.id)} onPick={(u) => setUsers([...users, u])} />
      <h2>Phones</h2>
      {phones.map((row, i) => (
        <div class="phone-row" key={row.key} role="group" aria-label={`Phone ${i + 1}`}>
          <Field label={`Phone ${i + 1}`} type="tel" value={row.phoneNumber} onValue={(v) => setRow(row.key, { phoneNumber: v })} />
          <Field label={`Name of phone ${i + 1} (optional)`} value={row.displayName} onValue={(v) => setRow(row.key, { displayName: v })} />
          {phones.length > 1 && (
            <button type="button" class="small" onClick={() => setPhones(phones.filter((r) => r.key !== row.key))}>
              Remove phone {i + 1}
            </button>
          )}
        </div>
      ))}
      <button type="button" onClick={() => setPhones([...phones, newRow()])}>
        Add another phone
      </button>
      <button type="submit" class="primary" disabled={busy}>
        Start group
      </button>
    </form>
  );
}

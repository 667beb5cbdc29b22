import { useEffect, useState } from "preact/hooks";
import { api, currentSession } from "../api/client";
import type { PublicUser } from "../api/types";
import { ErrorText, Field, Screen, nameOf, useAction } from "../ui";

interface Deactivated {
  id: string;
  username: string;
}

const KEY = "switchboard.deactivated";
const remembered = (): Deactivated[] => {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "[]") as Deactivated[];
  } catch {
    return [];
  }
};

/**
 * Admins: deactivate (ends the user's sessions, frees their number) and reactivate users. The API
 * lists active users only (the directory), so the users deactivated from this browser are
 * remembered here, and any user can be reactivated by id.
 */
export function Users() {
  const [q, setQ] = useState("");
  const [users, setUsers] = useState<PublicUser[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [inactive, setInactive] = useState<Deactivated[]>(remembered);
  const [byId, setById] = useState("");
  const list = useAction();
  const change = useAction();
  const me = currentSession()?.user.id;

  async function load(from: string | null = null) {
    const page = await api.directory(q.trim(), from, 50);
    setUsers((old) => (from ? [...old, ...page.items] : page.items));
    setCursor(page.nextCursor);
  }
  useEffect(() => {
    const timer = setTimeout(() => void list.run(() => load()), 250);
    return () => clearTimeout(timer);
  }, [q]);

  function remember(next: Deactivated[]) {
    setInactive(next);
    localStorage.setItem(KEY, JSON.stringify(next));
  }

  async function setActive(id: string, active: boolean) {
    const user = await api.setUserActive(id, active);
    const rest = remembered().filter((u) => u.id !== id);
    remember(active ? rest : [...rest, { id: user.id, username: user.username }]);
    await load();
  }

  return (
    <Screen title="Users">
      <Field label="Find users by username" type="search" value={q} onValue={setQ} />
      <ErrorText error={list.error} />
      <ErrorText error={change.error} />
      <ul class="people">
        {users.map((u) => (
          <li key={u.id}>
            <span>
              <strong>{nameOf(u)}</strong> <span class="muted">@{u.username}</span>
              {u.virtualPhoneNumber && <span class="muted"> · {u.virtualPhoneNumber}</span>}
            </span>
            {u.id !== me && (
              <button type="button" class="small danger" disabled={change.busy} onClick={() => void change.run(() => setActive(u.id, false))}>
                Deactivate <span class="visually-hidden">{u.username}</span>
              </button>
            )}
          </li>
        ))}
      </ul>
      {cursor && (
        <button type="button" disabled={list.busy} onClick={() => void list.run(() => load(cursor))}>
          Load more users
        </button>
      )}
      <section class="card" aria-labelledby="inactive-title">
        <h2 id="inactive-title">Deactivated</h2>
        {inactive.length === 0 && <p class="muted">Nobody deactivated from this browser.</p>}
        <ul class="people">
          {inactive.map((u) => (
            <li key={u.id}>
              <span>
                <strong>@{u.username}</strong> <span class="muted mono">{u.id}</span>
              </span>
              <button type="button" class="small" disabled={change.busy} onClick={() => void change.run(() => setActive(u.id, true))}>
                Reactivate <span class="visually-hidden">{u.username}</span>
              </button>
            </li>
          ))}
        </ul>
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void change.run(async () => {
              await setActive(byId.trim(), true);
              setById("");
            });
          }}
        >
          <Field label="Reactivate a user by id" value={byId} onValue={setById} required />
          <button type="submit" disabled={change.busy}>
            Reactivate
          </button>
        </form>
      </section>
    </Screen>
  );
}

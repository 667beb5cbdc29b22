import { useEffect, useId, useState } from "preact/hooks";
import { api, currentSession } from "../api/client";
import type { PublicUser } from "../api/types";
import { ErrorText, nameOf } from "../ui";

/** Search the directory by username and pick people (each result has its own button). */
export function UserPicker({
  action,
  onPick,
  exclude = [],
  label = "Find people by username",
}: {
  action: string;
  onPick: (user: PublicUser) => void;
  exclude?: string[];
  label?: string;
}) {
  const id = useId();
  const [q, setQ] = useState("");
  const [users, setUsers] = useState<PublicUser[]>([]);
  const [error, setError] = useState<unknown>(null);
  const me = currentSession()?.user.id;
  useEffect(() => {
    let stale = false;
    const timer = setTimeout(() => {
      api.directory(q.trim()).then(
        (page) => {
          if (stale) return;
          setUsers(page.items);
          setError(null);
        },
        (e: unknown) => !stale && setError(e),
      );
    }, 250);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [q]);
  const shown = users.filter((u) => u.id !== me && !exclude.includes(u.id));
  return (
    <div class="picker">
      <div class="field">
        <label for={id}>{label}</label>
        <input id={id} type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} autoComplete="off" />
      </div>
      <ErrorText error={error} />
      <ul class="picker-results" aria-label="People found">
        {shown.map((user) => (
          <li key={user.id}>
            <span>
              <strong>{nameOf(user)}</strong> <span class="muted">@{user.username}</span>
              {user.virtualPhoneNumber && <span class="muted"> · {user.virtualPhoneNumber}</span>}
            </span>
            <button type="button" class="small" onClick={() => onPick(user)}>
              {action} <span class="visually-hidden">{user.username}</span>
            </button>
          </li>
        ))}
        {shown.length === 0 && <li class="muted">Nobody found.</li>}
      </ul>
    </div>
  );
}

import { useEffect, useId, useState } from "preact/hooks";
import { api } from "../api/client";
import type { NumberStatus, PoolNumber } from "../api/types";
import { ErrorText, Field, Screen, Time, useAction } from "../ui";

/** Admins: the pool of Twilio numbers, by status; add and remove. */
export function Numbers() {
  const filterId = useId();
  const [status, setStatus] = useState<NumberStatus | "">("");
  const [numbers, setNumbers] = useState<PoolNumber[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [adding, setAdding] = useState("");
  const list = useAction();
  const change = useAction();

  async function load(from: string | null = null) {
    const page = await api.numbers(status, from);
    setNumbers((old) => (from ? [...old, ...page.items] : page.items));
    setCursor(page.nextCursor);
  }
  useEffect(() => {
    void list.run(() => load());
  }, [status]);

  return (
    <Screen title="Number pool">
      <form
        class="card inline-form"
        aria-label="Add a number"
        onSubmit={(e) => {
          e.preventDefault();
          void change.run(async () => {
            await api.addNumber(adding.trim());
            setAdding("");
            await load();
          });
        }}
      >
        <Field label="Twilio number to add" type="tel" value={adding} onValue={setAdding} hint="Any notation; stored as E.164." required />
        <button type="submit" class="primary" disabled={change.busy}>
          Add number
        </button>
      </form>
      <ErrorText error={change.error} />
      <div class="field narrow">
        <label for={filterId}>Show</label>
        <select id={filterId} value={status} onChange={(e) => setStatus(e.currentTarget.value as NumberStatus | "")}>
          <option value="">All numbers</option>
          <option value="free">Free</option>
          <option value="assigned">Assigned to a user</option>
          <option value="proxy">Proxy for group phones</option>
        </select>
      </div>
      <ErrorText error={list.error} />
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Numbers in the pool</caption>
          <thead>
            <tr>
              <th scope="col">Number</th>
              <th scope="col">Status</th>
              <th scope="col">Owner</th>
              <th scope="col">Group routes</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {numbers.map((n) => (
              <tr key={n.phoneNumber}>
                <th scope="row">{n.phoneNumber}</th>
                <td>{n.status}</td>
                <td class="mono">{n.ownerId ?? "—"}</td>
                <td>{n.routeCount ?? 0}</td>
                <td>
                  <Time iso={n.addedAt} />
                </td>
                <td>
                  <button
                    type="button"
                    class="small danger"
                    disabled={change.busy}
                    onClick={() =>
                      void change.run(async () => {
                        await api.removeNumber(n.phoneNumber);
                        await load();
                      })
                    }
                  >
                    Remove <span class="visually-hidden">{n.phoneNumber}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!list.busy && numbers.length === 0 && <p class="muted">No numbers here.</p>}
      {cursor && (
        <button type="button" disabled={list.busy} onClick={() => void list.run(() => load(cursor))}>
          Load more numbers
        </button>
      )}
    </Screen>
  );
}

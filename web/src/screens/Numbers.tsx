import { useEffect, useId, useState } from "preact/hooks";
import { api } from "../api/client";
import type { NumberStatus, PoolNumber, Schemas } from "../api/types";
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
  const reload = () => list.run(() => load());

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
      <FromTwilio onImported={() => void reload()} />
    </Screen>
  );
}

type AccountNumber = Schemas["ProviderNumberView"];
type ImportResult = Schemas["NumberImportResult"];

const WIRING: Record<string, string> = {
  wired: "points here",
  notWired: "not pointed here yet",
  pointedElsewhere: "points elsewhere",
  alreadyWired: "already pointed here",
};
const POOL: Record<string, string> = {
  imported: "imported",
  alreadyInPool: "already in the pool",
  notImported: "not imported",
};

/** The Twilio account's numbers: pick some, import them; each is pointed at the inbound webhook. */
function FromTwilio({ onImported }: { onImported: () => void }) {
  const [numbers, setNumbers] = useState<AccountNumber[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [chosen, setChosen] = useState<string[]>([]);
  const [takeOver, setTakeOver] = useState(false);
  const [results, setResults] = useState<ImportResult[]>([]);
  const list = useAction();
  const importing = useAction();

  async function load(token: string | null = null) {
    const page = await api.twilioNumbers(token);
    setNumbers((old) => (token ? [...old, ...page.numbers] : page.numbers));
    setNext(page.nextPageToken ?? null);
  }
  useEffect(() => {
    void list.run(() => load());
  }, []);
  const toggle = (n: string) => setChosen((old) => (old.includes(n) ? old.filter((x) => x !== n) : [...old, n]));

  return (
    <section aria-labelledby="from-twilio">
      <h2 id="from-twilio">From Twilio</h2>
      <ErrorText error={list.error} />
      <ul class="plain">
        {numbers.map((n) => (
          <li key={n.sid}>
            <label>
              <input type="checkbox" checked={chosen.includes(n.phoneNumber)} onChange={() => toggle(n.phoneNumber)} />{" "}
              {n.phoneNumber} — {n.inPool ? "in the pool" : "not in the pool"}, {WIRING[n.wiring]}
              {n.wiring === "pointedElsewhere" && <span class="muted"> ({n.smsUrl})</span>}
            </label>
          </li>
        ))}
      </ul>
      {next && (
        <button type="button" disabled={list.busy} onClick={() => void list.run(() => load(next))}>
          More numbers from Twilio
        </button>
      )}
      <label>
        <input type="checkbox" checked={takeOver} onChange={(e) => setTakeOver(e.currentTarget.checked)} /> Take over
        numbers pointed elsewhere
      </label>
      <button
        type="button"
        class="primary"
        disabled={importing.busy || chosen.length === 0}
        onClick={() =>
          void importing.run(async () => {
            setResults(await api.importNumbers(chosen, takeOver));
            setChosen([]);
            await load();
            onImported();
          })
        }
      >
        Import {chosen.length || ""}
      </button>
      <ErrorText error={importing.error} />
      {results.length > 0 && (
        <ul aria-live="polite">
          {results.map((r) => (
            <li key={r.phoneNumber}>
              {r.phoneNumber}: {POOL[r.pool]}, {WIRING[r.wiring]}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

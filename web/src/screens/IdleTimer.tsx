import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { Conversation } from "../api/types";
import { putConversation } from "../store";
import { ErrorText, useAction } from "../ui";

/** The choices offered; the API takes any ISO-8601 duration from 10 minutes to 365 days. */
const CHOICES: [string, string][] = [
  ["", "The deployment's setting"],
  ["off", "Never"],
  ["PT1H", "After 1 hour"],
  ["P1D", "After 1 day"],
  ["P7D", "After 7 days"],
  ["P30D", "After 30 days"],
  ["P90D", "After 90 days"],
];

/** "P1DT2H" → "1 day 2 hours": the units the API writes (days, hours, minutes, seconds). */
function spoken(iso: string): string {
  const parts = [...iso.matchAll(/(\d+)([DHMS])/g)].map(([, n, unit]) => {
    const word = { D: "day", H: "hour", M: "minute", S: "second" }[unit as "D"];
    return `${n} ${word}${n === "1" ? "" : "s"}`;
  });
  return parts.join(" ");
}

/** An SMS or group conversation's inactivity timer: shown to everyone, changed by its admins. */
export function IdleTimer({ conversation, admin }: { conversation: Conversation; admin: boolean }) {
  const act = useAction();
  const timers = conversation.timers;
  const [choice, setChoice] = useState(timers?.own ? (timers.closeAfter ?? "off") : "");
  if (conversation.type === "direct" || !timers) return null;
  const closed = conversation.status === "closed";
  const known = CHOICES.some(([value]) => value === choice);
  return (
    <section aria-labelledby="idle-title" class="card" data-idle-timer>
      <h2 id="idle-title">Inactivity</h2>
      <p>
        {closed
          ? "This conversation is closed."
          : timers.closeAfter
            ? `Closes by itself after ${spoken(timers.closeAfter)} without a message (${timers.own ? "set for this conversation" : "the deployment's setting"}), freeing its numbers.`
            : `Never closes by itself (${timers.own ? "set for this conversation" : "the deployment's setting"}).`}
        {!closed && timers.closesAt && (
          <>
            {" "}
            <span class="muted">Next: {new Date(timers.closesAt).toLocaleString()}, unless someone writes.</span>
          </>
        )}
      </p>
      {admin && !closed && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void act.run(async () => {
              putConversation(await api.setIdleTimer(conversation.id, choice === "" ? null : choice));
            });
          }}
        >
          <div class="field">
            <label for="idle-choice">Close when idle</label>
            <select id="idle-choice" value={choice} onChange={(e) => setChoice(e.currentTarget.value)}>
              {!known && <option value={choice}>{spoken(choice)}</option>}
              {CHOICES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" disabled={act.busy}>
            Save
          </button>
        </form>
      )}
      <ErrorText error={act.error} />
    </section>
  );
}

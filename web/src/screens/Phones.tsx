// The local stack's simulated phones (the Twilio stand-in, xtask/src/standin.rs): what each
// phone received and sent, and a box to text one of our numbers as a phone. Shown only when
// config.json names the stand-in, i.e. under `make dev`.
import { useEffect, useState } from "preact/hooks";
import { currentSession } from "../api/client";
import { ErrorText, Field, Time, useAction } from "../ui";

interface PhoneSms {
  sid: string | null;
  direction: "received" | "sent" | "refused";
  from: string;
  to: string;
  body: string | null;
  status: string;
  at: string;
}

/** Loose notation to E.164, as the stand-in wants it: spaces and punctuation go, 10 digits are US. */
export function e164(raw: string): string {
  const compact = raw.replace(/[\s().-]/g, "");
  if (/^\d{10}$/.test(compact)) return `+1${compact}`;
  if (compact.startsWith("00")) return `+${compact.slice(2)}`;
  return compact;
}

export function Phones({ standinUrl, onClose }: { standinUrl: string; onClose: () => void }) {
  const [phones, setPhones] = useState<Record<string, PhoneSms[]>>({});
  const [pollError, setPollError] = useState<string | null>(null);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState(currentSession()?.user.virtualPhoneNumber ?? "");
  const [body, setBody] = useState("");
  const [sent, setSent] = useState<string | null>(null);
  const send = useAction();

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const response = await fetch(`${standinUrl}/phones`, { cache: "no-store" });
        if (!response.ok) throw new Error(`the stand-in answered ${response.status}`);
        const data = (await response.json()) as { phones: Record<string, PhoneSms[]> };
        if (!stopped) {
          setPhones(data.phones);
          setPollError(null);
        }
      } catch (e) {
        if (!stopped) setPollError(`The Twilio stand-in cannot be reached (${e instanceof Error ? e.message : String(e)}).`);
      }
      if (!stopped) timer = setTimeout(() => void poll(), 1000);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [standinUrl]);

  const ours = new Set<string>();
  const mine = currentSession()?.user.virtualPhoneNumber;
  if (mine) ours.add(mine);
  for (const list of Object.values(phones)) for (const sms of list) if (sms.direction === "received") ours.add(sms.from);

  async function text() {
    const phone = e164(from);
    const response = await fetch(`${standinUrl}/phones/${encodeURIComponent(phone)}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: e164(to), body }),
    });
    const reply = (await response.json().catch(() => ({}))) as { error?: string; webhookStatus?: number; webhookResponse?: string };
    if (!response.ok) {
      throw new Error(
        reply.error ?? `Our webhook answered ${reply.webhookStatus ?? response.status}: ${reply.webhookResponse ?? ""}`.trim(),
      );
    }
    setSent(`${phone} texted ${e164(to)}.`);
    setBody("");
  }

  // The phone with the latest activity first.
  const latest = (phone: string) => phones[phone].reduce((at, sms) => (sms.at > at ? sms.at : at), "");
  const numbers = Object.keys(phones).sort((a, b) => latest(b).localeCompare(latest(a)));
  return (
    <div class="phones">
      <div class="pane-head">
        <h2 id="phones-title">Phones</h2>
        <button type="button" class="small" onClick={onClose}>
          Close phones
        </button>
      </div>
      <p class="muted">Simulated by the local Twilio stand-in. Text one of our numbers as a phone:</p>
      <form
        class="phone-form"
        aria-label="Text as a phone"
        onSubmit={(e) => {
          e.preventDefault();
          setSent(null);
          void send.run(text);
        }}
      >
        <Field label="From phone" type="tel" value={from} onValue={setFrom} list="phones-known" placeholder="+14155550177" required />
        <Field label="To our number" type="tel" value={to} onValue={setTo} list="phones-ours" required />
        <datalist id="phones-known">
          {numbers.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
        <datalist id="phones-ours">
          {[...ours].map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
        <div class="field">
          <label for="phone-text">Text</label>
          <textarea id="phone-text" rows={2} value={body} onInput={(e) => setBody(e.currentTarget.value)} required />
        </div>
        <button type="submit" disabled={send.busy}>
          Send text
        </button>
        {sent && <p role="status">{sent}</p>}
        <ErrorText error={send.error} />
      </form>
      {pollError && <p class="error">{pollError}</p>}
      {numbers.length === 0 && <p class="muted">No phone has texted or been texted yet.</p>}
      {numbers.map((phone) => {
        const list = phones[phone];
        const lastFrom = [...list].reverse().find((s) => s.direction === "received")?.from;
        return (
          <section key={phone} class="phone" aria-label={`Phone ${phone}`} data-phone={phone}>
            <div class="pane-head">
              <h3>{phone}</h3>
              {lastFrom && (
                <button
                  type="button"
                  class="small"
                  onClick={() => {
                    setFrom(phone);
                    setTo(lastFrom);
                    document.getElementById("phone-text")?.focus();
                  }}
                >
                  Reply as {phone}
                </button>
              )}
            </div>
            <ol class="phone-sms">
              {list.slice(-20).map((sms, i) => (
                <li key={sms.sid ?? `${phone}-${i}`} class={sms.direction} data-from={sms.from}>
                  <span class="muted">
                    {sms.direction === "sent" ? `→ to ${sms.to}` : sms.direction === "received" ? `← from ${sms.from}` : `✗ from ${sms.from}`}{" "}
                    <Time iso={sms.at} />
                  </span>
                  <span class="sms-body">{sms.body}</span>
                  <span class="sms-status">
                    {sms.direction === "sent" ? `webhook ${sms.status}` : sms.direction === "refused" ? `refused ${sms.status}` : sms.status}
                  </span>
                </li>
              ))}
            </ol>
          </section>
        );
      })}
    </div>
  );
}

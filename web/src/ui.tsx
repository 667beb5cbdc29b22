// Small pieces every screen uses: labelled fields, an error line, a busy-aware action.
import type { ComponentChildren } from "preact";
import { useId, useState } from "preact/hooks";
import { describeError } from "./api/client";
import type { PublicUser, User } from "./api/types";

export function ErrorText({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  return (
    <p class="error" role="alert">
      {describeError(error)}
    </p>
  );
}

interface FieldProps {
  label: string;
  value: string;
  onValue: (value: string) => void;
  hint?: string;
  type?: "text" | "email" | "password" | "tel" | "search";
  autoComplete?: string;
  placeholder?: string;
  required?: boolean;
  list?: string;
}

/** An input with its visible label (and an optional hint read with it). */
export function Field({ label, value, onValue, hint, type = "text", list, ...rest }: FieldProps) {
  const id = useId();
  // Preact's input types tie `list` to some `type`s; these combinations are all valid HTML.
  const extra = (list ? { list } : {}) as { list?: undefined };
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type={type as "text"}
        {...extra}
        value={value}
        onInput={(e) => onValue(e.currentTarget.value)}
        aria-describedby={hint ? `${id}-hint` : undefined}
        {...rest}
      />
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

/** Runs an async action once at a time, keeping its error for display. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}

export function nameOf(user: Pick<User | PublicUser, "username" | "firstName" | "lastName">): string {
  const full = [user.firstName, user.lastName].filter(Boolean).join(" ");
  return full || user.username;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return null;
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {when(iso)}
    </time>
  );
}

export function Screen({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <div class="screen">
      <div class="screen-head">
        <h1>{title}</h1>
        {actions}
      </div>
      {children}
    </div>
  );
}

/** A random key for Idempotency-Key headers. */
export function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A button that asks before it acts: the question and two named answers, in its place. */
export function Confirm({
  action,
  question,
  yes,
  no,
  onYes,
  busy = false,
  className = "danger",
}: {
  action: ComponentChildren;
  question: string;
  yes: string;
  no: string;
  onYes: () => void;
  busy?: boolean;
  className?: string;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class={className} onClick={() => setAsking(true)}>
        {action}
      </button>
    );
  }
  return (
    <>
      <span>{question}</span>
      <button
        type="button"
        class="danger"
        disabled={busy}
        onClick={() => {
          setAsking(false);
          onYes();
        }}
      >
        {yes}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        {no}
      </button>
    </>
  );
}

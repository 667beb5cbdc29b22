import { useState } from "preact/hooks";
import { api, currentSession } from "../api/client";
import { useStore } from "../store";
import { Confirm, ErrorText, Field, Screen, useAction } from "../ui";

export function Profile() {
  useStore();
  const user = currentSession()?.user;
  const [firstName, setFirstName] = useState(user?.firstName ?? "");
  const [lastName, setLastName] = useState(user?.lastName ?? "");
  const [phone, setPhone] = useState(user?.phoneNumber ?? "");
  const [wanted, setWanted] = useState("");
  const [saved, setSaved] = useState(false);
  const details = useAction();
  const number = useAction();
  if (!user) return null;
  return (
    <Screen title="Profile">
      <section class="card" aria-labelledby="number-title">
        <h2 id="number-title">Your virtual number</h2>
        {user.virtualPhoneNumber ? (
          <>
            <p>
              Phones text you at <strong class="big-number" data-testid="virtual-number">{user.virtualPhoneNumber}</strong>. SMS
              conversations go out from it.
            </p>
            <div class="row">
              <Confirm
                action="Release number"
                question="Release it? Its SMS conversations close."
                yes={`Yes, release ${user.virtualPhoneNumber}`}
                no="Keep it"
                busy={number.busy}
                onYes={() => void number.run(() => api.releaseNumber())}
              />
            </div>
          </>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void number.run(() => api.takeNumber(wanted.trim() || undefined));
            }}
          >
            <p>You have no number yet. Take any free number from the pool, or ask for one.</p>
            <Field label="A specific number (optional)" type="tel" value={wanted} onValue={setWanted} hint="Leave empty for any free number." />
            <button type="submit" class="primary" disabled={number.busy}>
              {number.busy ? "Taking…" : "Take a number"}
            </button>
          </form>
        )}
        <ErrorText error={number.error} />
      </section>
      <form
        class="card"
        aria-labelledby="details-title"
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          void details
            .run(() => api.updateProfile({ firstName: firstName.trim() || null, lastName: lastName.trim() || null, phoneNumber: phone.trim() || null }))
            .then((u) => setSaved(!!u));
        }}
      >
        <h2 id="details-title">Your details</h2>
        <p>
          <strong>@{user.username}</strong> · {user.email} {user.role === "admin" && <span class="badge">admin</span>}
        </p>
        <Field label="First name" value={firstName} onValue={setFirstName} autoComplete="given-name" />
        <Field label="Last name" value={lastName} onValue={setLastName} autoComplete="family-name" />
        <Field label="Personal phone (optional)" type="tel" value={phone} onValue={setPhone} autoComplete="tel" />
        <ErrorText error={details.error} />
        {saved && <p role="status">Saved.</p>}
        <button type="submit" disabled={details.busy}>
          Save details
        </button>
      </form>
    </Screen>
  );
}

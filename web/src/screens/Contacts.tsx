import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Contact, ImportReport } from "../api/types";
import { loadContacts } from "../contacts";
import { Confirm, ErrorText, Field, Screen, useAction } from "../ui";

/** The caller's address book: search by a name's start, add, edit, delete, import a .vcf file. */
export function Contacts() {
  const [q, setQ] = useState("");
  const [contacts, setContacts] = useState<Contact[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [report, setReport] = useState<ImportReport | null>(null);
  const list = useAction();
  const change = useAction();

  async function load(from: string | null = null) {
    const page = await api.contacts(q.trim(), from);
    setContacts((old) => (from ? [...old, ...page.items] : page.items));
    setCursor(page.nextCursor);
  }
  useEffect(() => {
    void list.run(() => load());
  }, [q]);

  /** After a change: this list, and the names the other screens show. */
  async function changed() {
    setEditing(null);
    await Promise.all([load(), loadContacts()]);
  }

  async function importFile(file: File) {
    setReport(null);
    const result = await change.run(async () => api.importContacts(await file.text()));
    if (result) {
      setReport(result);
      await changed();
    }
  }

  return (
    <Screen title="Contacts">
      <ContactForm
        label="Add a contact"
        submit="Add contact"
        busy={change.busy}
        onSave={(values) => change.run(async () => (await api.addContact(values), await changed(), true))}
      />
      <div class="card">
        <label for="vcard-file">Import a vCard file (.vcf)</label>
        <input
          id="vcard-file"
          type="file"
          accept=".vcf,text/vcard,text/x-vcard"
          disabled={change.busy}
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = "";
            if (file) void importFile(file);
          }}
        />
        {report && <ImportSummary report={report} />}
      </div>
      <ErrorText error={change.error} />
      <Field label="Search by name" type="search" value={q} onValue={setQ} hint="The start of a name, in any case." />
      <ErrorText error={list.error} />
      <ul class="people contacts">
        {contacts.map((c) =>
          editing === c.id ? (
            <li key={c.id}>
              <ContactForm
                label={`Edit ${c.name}`}
                submit="Save"
                initial={c}
                busy={change.busy}
                onCancel={() => setEditing(null)}
                onSave={(values) =>
                  change.run(async () => (await api.updateContact(c.id, values), await changed(), true))
                }
              />
            </li>
          ) : (
            <li key={c.id} data-contact={c.phoneNumber}>
              <span>
                <strong>{c.name}</strong> <span class="muted">{c.phoneNumber}</span>
                {c.notes && <span class="muted"> · {c.notes}</span>}
              </span>
              <span class="row">
                <button type="button" class="small" onClick={() => setEditing(c.id)}>
                  Edit<span class="visually-hidden"> {c.name}</span>
                </button>
                <Confirm
                  className="small danger"
                  action={
                    <>
                      Delete<span class="visually-hidden"> {c.name}</span>
                    </>
                  }
                  question={`Delete ${c.name}?`}
                  yes="Yes, delete"
                  no="Keep"
                  busy={change.busy}
                  onYes={() => void change.run(async () => (await api.deleteContact(c.id), await changed()))}
                />
              </span>
            </li>
          ),
        )}
      </ul>
      {!list.busy && contacts.length === 0 && <p class="muted">{q.trim() ? "No contact starts with that." : "No contacts yet."}</p>}
      {cursor && (
        <button type="button" disabled={list.busy} onClick={() => void list.run(() => load(cursor))}>
          Load more contacts
        </button>
      )}
    </Screen>
  );
}

interface Values {
  name: string;
  phoneNumber: string;
  notes: string | null;
}

function ContactForm({
  label,
  submit,
  initial,
  busy,
  onSave,
  onCancel,
}: {
  label: string;
  submit: string;
  initial?: Contact;
  busy: boolean;
  onSave: (values: Values) => Promise<boolean | undefined>;
  onCancel?: () => void;
}) {
  const [name, setName] = useState(initial?.name ?? "");
  const [phone, setPhone] = useState(initial?.phoneNumber ?? "");
  const [notes, setNotes] = useState(initial?.notes ?? "");
  return (
    <form
      class="card inline-form"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        void onSave({ name: name.trim(), phoneNumber: phone.trim(), notes: notes.trim() || null }).then((ok) => {
          if (ok && !initial) {
            setName("");
            setPhone("");
            setNotes("");
          }
        });
      }}
    >
      <Field label="Name" value={name} onValue={setName} required />
      <Field label="Phone" type="tel" value={phone} onValue={setPhone} hint="Any notation; stored as E.164." required />
      <Field label="Notes (optional)" value={notes} onValue={setNotes} />
      <button type="submit" class="primary" disabled={busy}>
        {submit}
      </button>
      {onCancel && (
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      )}
    </form>
  );
}

function ImportSummary({ report }: { report: ImportReport }) {
  const skipped = report.cards.filter((c) => c.outcome !== "imported");
  return (
    <div role="status">
      <p>
        Imported {report.imported}, skipped {report.duplicates} already in your contacts and {report.invalid} without a usable
        name or phone.
      </p>
      {skipped.length > 0 && (
        <ul class="muted">
          {skipped.map((c) => (
            <li key={c.card}>
              Card {c.card} ({c.name ?? c.phoneNumber ?? "unnamed"}): {c.outcome === "duplicate" ? "already a contact" : c.reason}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

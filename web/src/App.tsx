import { useEffect, useRef, useState } from "preact/hooks";
import { currentSession, logout, onSession, accessToken, api, type StoredSession } from "./api/client";
import { config } from "./config";
import { Live, liveSocket } from "./live";
import { go, parse, useRoute, type Route } from "./router";
import { applyEvent, catchUp, loadInbox, reset, setLive, state, useStore } from "./store";
import { Auth } from "./screens/Auth";
import { Inbox } from "./screens/Inbox";
import { ConversationScreen } from "./screens/Conversation";
import { People } from "./screens/People";
import { NewConversation } from "./screens/NewConversation";
import { Profile } from "./screens/Profile";
import { Numbers } from "./screens/Numbers";
import { Users } from "./screens/Users";
import { Phones } from "./screens/Phones";
import { Contacts } from "./screens/Contacts";
import { loadContacts, resetContacts } from "./contacts";
import { nameOf } from "./ui";

export function App() {
  const [session, setSession] = useState<StoredSession | null>(currentSession());
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(
    () =>
      onSession((next, reason) => {
        setSession(next);
        if (!next) {
          reset();
          resetContacts();
          if (reason) setNotice(reason);
        } else setNotice(null);
      }),
    [],
  );
  if (!session) return <Auth notice={notice} />;
  return <Shell key={session.user.id} session={session} />;
}

const LIVE_TEXT = { open: "Live", connecting: "Connecting…", offline: "Offline, reconnecting…" };

function Shell({ session }: { session: StoredSession }) {
  useStore();
  const route = useRoute();
  const user = session.user;
  const standin = config().standinUrl;
  const [phonesOpen, setPhonesOpen] = useState(() => localStorage.getItem("switchboard.phones") === "open");
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    void loadInbox().catch(() => undefined);
    void loadContacts().catch(() => undefined);
    void api.profile().catch(() => undefined);
    const socket = new Live({
      url: config().websocketUrl,
      token: accessToken,
      onEvent: applyEvent,
      // On every open, the first included: what happened before the socket listened.
      onOpen: () => {
        const route = parse(location.hash);
        void catchUp("id" in route ? route.id : null).catch(() => undefined);
      },
      onState: setLive,
    });
    liveSocket.current = socket;
    return () => {
      socket.stop();
      liveSocket.current = null;
    };
  }, []);

  useEffect(() => {
    if (route.name === "login" || route.name === "register") go({ name: "home" });
  }, [route.name]);

  // The window's title carries the unread total, as a tab shows it.
  const unread = state.unreadTotal ?? 0;
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Switchboard` : "Switchboard";
  }, [unread]);

  function togglePhones() {
    const next = !phonesOpen;
    setPhonesOpen(next);
    localStorage.setItem("switchboard.phones", next ? "open" : "closed");
  }

  const admin = user.role === "admin";
  const current = (names: Route["name"][]) => (names.includes(route.name) ? "page" : undefined);
  return (
    <div class="app">
      <button type="button" class="skip" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href="#/">
          Switchboard
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={current(["home", "conversation", "people"])}>
            Inbox
          </a>
          <a href="#/new" aria-current={current(["new"])}>
            New conversation
          </a>
          <a href="#/contacts" aria-current={current(["contacts"])}>
            Contacts
          </a>
          <a href="#/profile" aria-current={current(["profile"])}>
            Profile
          </a>
          {admin && (
            <a href="#/admin/numbers" aria-current={current(["numbers"])}>
              Number pool
            </a>
          )}
          {admin && (
            <a href="#/admin/users" aria-current={current(["users"])}>
              Users
            </a>
          )}
        </nav>
        <div class="me">
          <span class={`live live-${state.live}`} role="status">
            {LIVE_TEXT[state.live]}
          </span>
          {standin && (
            <button type="button" aria-pressed={phonesOpen} onClick={togglePhones}>
              Phones
            </button>
          )}
          <span class="who">
            {nameOf(user)}
            {user.virtualPhoneNumber && <span class="number"> {user.virtualPhoneNumber}</span>}
          </span>
          <button type="button" onClick={() => logout()}>
            Log out
          </button>
        </div>
      </header>
      <div class={`layout route-${route.name}${phonesOpen && standin ? " with-phones" : ""}`}>
        <section class="inbox-pane" aria-labelledby="inbox-title">
          <Inbox selected={"id" in route ? route.id : null} />
        </section>
        <main ref={main} tabIndex={-1} class="main-pane">
          <Page route={route} />
        </main>
        {phonesOpen && standin && (
          <aside class="phones-pane" aria-labelledby="phones-title">
            <Phones standinUrl={standin} onClose={togglePhones} />
          </aside>
        )}
      </div>
    </div>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case "conversation":
      return <ConversationScreen key={route.id} id={route.id} />;
    case "people":
      return <People key={route.id} id={route.id} />;
    case "new":
      return <NewConversation />;
    case "profile":
      return <Profile />;
    case "contacts":
      return <Contacts />;
    case "numbers":
      return <Numbers />;
    case "users":
      return <Users />;
    default:
      return (
        <div class="screen empty-state">
          <p>Choose a conversation, or start a new one.</p>
          <a class="button" href="#/new">
            New conversation
          </a>
        </div>
      );
  }
}

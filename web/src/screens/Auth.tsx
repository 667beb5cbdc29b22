import { useState } from "preact/hooks";
import { api } from "../api/client";
import { useRoute } from "../router";
import { ErrorText, Field, useAction } from "../ui";

export function Auth({ notice }: { notice: string | null }) {
  const route = useRoute();
  const registering = route.name === "register";
  return (
    <main class="auth">
      <h1 class="brand-title">Switchboard</h1>
      <p class="tagline">Your own phone number in the browser: text phones, one to one and in groups.</p>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {registering ? <Register /> : <Login />}
    </main>
  );
}

function Login() {
  const [login, setLogin] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  return (
    <form
      class="card"
      aria-labelledby="login-title"
      onSubmit={(e) => {
        e.preventDefault();
        void run(() => api.login(login.trim(), password));
      }}
    >
      <h2 id="login-title">Log in</h2>
      <Field label="Email or username" value={login} onValue={setLogin} autoComplete="username" required />
      <Field label="Password" type="password" value={password} onValue={setPassword} autoComplete="current-password" required />
      <ErrorText error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? "Logging in…" : "Log in"}
      </button>
      <p>
        New here? <a href="#/register">Create an account</a>
      </p>
    </form>
  );
}

function Register() {
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [firstName, setFirstName] = useState("");
  const [lastName, setLastName] = useState("");
  const { busy, error, run } = useAction();
  return (
    <form
      class="card"
      aria-labelledby="register-title"
      onSubmit={(e) => {
        e.preventDefault();
        void run(() =>
          api.register({
            username: username.trim(),
            email: email.trim(),
            password,
            ...(firstName.trim() ? { firstName: firstName.trim() } : {}),
            ...(lastName.trim() ? { lastName: lastName.trim() } : {}),
          }),
        );
      }}
    >
      <h2 id="register-title">Create an account</h2>
      <Field label="Username" value={username} onValue={setUsername} autoComplete="username" required />
      <Field label="Email" type="email" value={email} onValue={setEmail} autoComplete="email" required />
      <Field
        label="Password"
        type="password"
        value={password}
        onValue={setPassword}
        autoComplete="new-password"
        hint="At least 8 characters."
        required
      />
      <Field label="First name (optional)" value={firstName} onValue={setFirstName} autoComplete="given-name" />
      <Field label="Last name (optional)" value={lastName} onValue={setLastName} autoComplete="family-name" />
      <ErrorText error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? "Creating…" : "Create account"}
      </button>
      <p>
        Already registered? <a href="#/login">Log in</a>
      </p>
    </form>
  );
}

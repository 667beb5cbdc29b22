import { render } from "preact";
import { App } from "./App";
import { loadConfig } from "./config";
import "./styles.css";

const root = document.getElementById("app")!;
loadConfig().then(
  () => render(<App />, root),
  (error: unknown) => {
    root.innerHTML = "";
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = `Switchboard could not load its configuration (${String(error)}).`;
    root.append(p);
  },
);

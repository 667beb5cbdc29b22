// Hash routes (#/c/ID): the app is one index.html, and a path-based route would need the CDN to
// answer every unknown path with it, which would also swallow the API's own 404s under /api/*.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "home" }
  | { name: "login" }
  | { name: "register" }
  | { name: "conversation"; id: string }
  | { name: "people"; id: string }
  | { name: "new" }
  | { name: "profile" }
  | { name: "numbers" }
  | { name: "users" }
  | { name: "contacts" };

export function parse(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case "login":
      return { name: "login" };
    case "register":
      return { name: "register" };
    case "c":
      if (parts[1]) return parts[2] === "people" ? { name: "people", id: parts[1] } : { name: "conversation", id: parts[1] };
      return { name: "home" };
    case "new":
      return { name: "new" };
    case "profile":
      return { name: "profile" };
    case "contacts":
      return { name: "contacts" };
    case "admin":
      return parts[1] === "users" ? { name: "users" } : { name: "numbers" };
    default:
      return { name: "home" };
  }
}

export function href(route: Route): string {
  switch (route.name) {
    case "conversation":
      return `#/c/${encodeURIComponent(route.id)}`;
    case "people":
      return `#/c/${encodeURIComponent(route.id)}/people`;
    case "numbers":
      return "#/admin/numbers";
    case "users":
      return "#/admin/users";
    case "home":
      return "#/";
    default:
      return `#/${route.name}`;
  }
}

export function go(route: Route) {
  location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parse(location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

// Helpers shared by the demo pages.

/** Query and hash parameters (hash wins: tokens stay out of server logs). */
export function param(name) {
  const h = new URLSearchParams(location.hash.slice(1));
  return h.get(name) ?? new URLSearchParams(location.search).get(name);
}

/** The WebSocket URL of this server. */
export function wsURL() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

/** A token from #token=..., else a demo token from the server (only
 * servers running with the public development secret mint them). */
export async function token(user, role = "") {
  const given = param("token");
  if (given) return given;
  const q = new URLSearchParams({ user });
  if (role) q.set("role", role);
  const res = await fetch("/demo/token?" + q, { cache: "no-store" });
  if (!res.ok) {
    throw new Error(res.status === 404
      ? "this server mints no demo tokens: open the page with #token=<token> (roomcast token -user NAME)"
      : `demo token: HTTP ${res.status}`);
  }
  return (await res.json()).token;
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

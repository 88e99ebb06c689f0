import { param, token, el, time } from "/static/common.js";

const $ = (id) => document.getElementById(id);
let cred = null; // {header, value}
let renew = null; // fetches a fresh demo token, when signed in with one
let room = param("room") || "lobby";
$("room").value = room;

function log(text, ok = true) {
  const li = el("li", ok ? "ok" : "fail", `${time(Date.now())}  ${text}`);
  $("log").prepend(li);
  while ($("log").children.length > 100) $("log").lastElementChild.remove();
}

/** Calls the admin API; resolves with the JSON answer, throws {code, message}. */
async function api(method, path, body) {
  const headers = { [cred.header]: cred.value };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch("/api/v1" + path, init);
  const data = await res.json().catch(() => ({ code: "HTTP_" + res.status, message: res.statusText }));
  if (data.code === "TOKEN_EXPIRED" && renew) {
    await renew();
    return api(method, path, body);
  }
  if (!res.ok) throw Object.assign(new Error(data.message), { code: data.code });
  return data;
}

async function act(what, method, path, body) {
  try {
    const r = await api(method, path, body);
    log(`${what}: ok`);
    refresh();
    return r;
  } catch (e) {
    log(`${what}: ${e.code ?? "ERROR"} ${e.message}`, false);
  }
}

const R = () => "/rooms/" + encodeURIComponent(room);
const list = (a) => (a && a.length ? a.join(", ") : "none");
const rate = (v) => (v ?? 0).toFixed(1);

async function refresh() {
  if (!cred) return;
  try {
    const s = await api("GET", R());
    $("stats-room").textContent = room;
    $("s-viewers").textContent = s.viewers;
    $("s-seq").textContent = `${s.seq} / ${s.pseq}`;
    $("s-accepted").textContent = s.messages.accepted;
    $("s-priority").textContent = s.messages.accepted_priority;
    const dropped = Object.entries(s.messages.dropped).filter(([, n]) => n > 0);
    $("s-dropped").textContent = dropped.length ? dropped.map(([k, n]) => `${k} ${n}`).join(", ") : "0";
    $("s-evicted").textContent = s.messages.evicted;
    $("s-notify").textContent = rate(s.delivery.notify_rate);
    $("s-pull").textContent = rate(s.delivery.pull_rate);
    $("s-ring").textContent = s.ring ? `${s.ring.len} / ${s.ring.size}` : "no local ring";
    $("s-limit").textContent = `${s.limit.rate}/s, burst ${s.limit.burst}`;
    $("s-muted").textContent = list(s.muted);
    $("s-banned").textContent = list(s.banned);
    $("s-shadowed").textContent = list(s.shadowed ?? []);
    $("s-whitelist").textContent = list(s.whitelist);
    $("s-hosts").textContent = list(s.hosts);
    $("s-moderators").textContent = list(s.moderators);
    $("s-slow").textContent = s.slow_mode_ms ? `1 message / ${s.slow_mode_ms / 1000}s per user` : "off";
    refreshAudit();
  } catch (e) {
    $("stats-room").textContent = `${room} (${e.code})`;
  }
  try {
    const t = await api("GET", "/rooms?top=10");
    $("top").replaceChildren(...t.rooms.map((r) => {
      const tr = el("tr");
      const a = el("a", "", r.room);
      a.href = "#";
      a.addEventListener("click", (ev) => { ev.preventDefault(); watch(r.room); });
      const td = el("td");
      td.append(a);
      tr.append(td, el("td", "", r.viewers), el("td", "", r.accepted), el("td", "", r.accepted_priority), el("td", "", r.dropped));
      return tr;
    }));
  } catch { /* shown by the stats */ }
}

function watch(r) {
  room = r;
  $("room").value = r;
  refresh();
}

function target() {
  const u = $("target").value.trim();
  if (!u) log("enter a user id first", false);
  return u;
}

$("room-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  watch($("room").value.trim());
});

$("notice-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = $("notice").value.trim();
  if (!body) return;
  const r = await act(`notice to ${room}`, "POST", R() + "/notices", { body });
  if (r) $("notice").value = "";
});

$("send-notice-all").addEventListener("click", async () => {
  const body = $("notice").value.trim();
  if (!body) return;
  const r = await act("notice to all rooms", "POST", "/notices", { body });
  if (!r) return;
  // Per node (the API's nodes): what its rooms took, or that it never
  // said which rooms it owns (asked twice), so none of them got it.
  for (const n of r.nodes ?? []) {
    log(n.error
      ? `node ${n.node}: not reached after ${n.attempts} attempts (${n.error.code} ${n.error.message}): its rooms did not get the notice`
      : `node ${n.node}: ${n.rooms} rooms, ${n.failed} failed`, !n.error && n.failed === 0);
  }
  log(`reached ${r.rooms} rooms, ${r.failed} failed, ${r.nodes_failed} node(s) not reached`, r.failed === 0 && r.nodes_failed === 0);
});

$("create-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const opts = { room };
  if ($("lifetime").value.trim()) opts.lifetime = $("lifetime").value.trim();
  if ($("idle-timeout").value.trim()) opts.idle_timeout = $("idle-timeout").value.trim();
  act(`create ${room}`, "POST", "/rooms", opts);
});
$("close-room").addEventListener("click", () => {
  if (confirm(`Close ${room}? Every viewer is removed and joins are refused.`)) act(`close ${room}`, "DELETE", R());
});

// The pinned message is the room attribute "pinned" (viewers show it).
$("pin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("pin").value.trim();
  const change = text ? { set: { pinned: text } } : { delete: ["pinned"] };
  act(text ? `pin in ${room}` : `unpin in ${room}`, "PATCH", R() + "/attrs", change);
});

// Publish sends with an idempotency key: a double click or a retry after
// a network error is answered with the first answer, not sent twice.
let pubKey = null;
$("publish-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = $("pub-body").value.trim();
  if (!body) return;
  pubKey ??= crypto.randomUUID();
  const msg = { from: $("pub-from").value.trim(), body, class: $("pub-class").value, idempotency_key: pubKey };
  const r = await act(`publish to ${room}`, "POST", R() + "/messages", msg);
  if (r) {
    log(`published seq ${r.seq} (${r.lane} lane${r.duplicate ? ", duplicate" : ""})`);
    $("pub-body").value = "";
    pubKey = null;
  }
});

const withDuration = () => {
  const d = $("duration").value.trim();
  return d ? { duration: d } : {};
};
const moderation = {
  mute: (u) => act(`mute ${u}`, "POST", R() + "/mutes", { user: u, ...withDuration() }),
  unmute: (u) => act(`unmute ${u}`, "DELETE", R() + "/mutes/" + encodeURIComponent(u)),
  ban: (u) => act(`ban ${u}`, "POST", R() + "/bans", { user: u, ...withDuration() }),
  unban: (u) => act(`unban ${u}`, "DELETE", R() + "/bans/" + encodeURIComponent(u)),
  shadow: (u) => act(`shadow-ban ${u}`, "POST", R() + "/shadowbans", { user: u, ...withDuration() }),
  unshadow: (u) => act(`lift ${u}'s shadow ban`, "DELETE", R() + "/shadowbans/" + encodeURIComponent(u)),
  kick: (u) => act(`kick ${u}`, "POST", R() + "/kicks", { user: u }),
  disconnect: (u) => act(`disconnect ${u}`, "POST", "/users/" + encodeURIComponent(u) + "/disconnect"),
  "wl-add": (u) => act(`whitelist ${u}`, "PUT", R() + "/whitelist/" + encodeURIComponent(u)),
  "wl-remove": (u) => act(`unwhitelist ${u}`, "DELETE", R() + "/whitelist/" + encodeURIComponent(u)),
  "role-host": (u) => act(`make ${u} host`, "PUT", R() + "/roles/" + encodeURIComponent(u), { role: "host" }),
  "role-mod": (u) => act(`make ${u} moderator`, "PUT", R() + "/roles/" + encodeURIComponent(u), { role: "moderator" }),
  "role-revoke": (u) => act(`revoke ${u}'s role`, "DELETE", R() + "/roles/" + encodeURIComponent(u)),
};

// refreshAudit shows the room's newest moderation actions.
async function refreshAudit() {
  try {
    const a = await api("GET", R() + "/audit?limit=50");
    $("audit").replaceChildren(...a.entries.map((e) => {
      const tr = el("tr");
      const what = e.action + (e.role ? ` ${e.role}` : "") + (e.seq ? ` #${e.seq}` : "") +
        (e.action === "slow_mode" ? ` ${(e.slow_mode_ms ?? 0) / 1000}s` : "");
      for (const v of [time(Date.parse(e.at)), e.by, e.as, what, e.target ?? "", e.reason ?? ""]) tr.append(el("td", "", v));
      return tr;
    }));
  } catch { /* the stats refresh reports errors */ }
}
for (const [id, fn] of Object.entries(moderation)) {
  $(id).addEventListener("click", () => {
    const u = target();
    if (u) fn(u);
  });
}

$("limit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act("set limit", "PUT", R() + "/limit", { rate: Number($("rate").value), burst: Number($("burst").value) });
});
$("reset-limit").addEventListener("click", () => act("default limit", "DELETE", R() + "/limit"));
$("slow-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act("set slow mode", "PUT", R() + "/slowmode", { interval: $("slow").value.trim() || "0s" });
});
$("slow-off").addEventListener("click", () => act("slow mode off", "DELETE", R() + "/slowmode"));
$("reload-filter").addEventListener("click", async () => {
  const r = await act("reload word filter", "POST", "/filter/reload");
  if (r) log(`word filter: ${r.words} words on ${r.nodes} node(s), ${r.failed} failed`, r.failed === 0);
});
$("delete-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const seq = $("del-seq").value.trim();
  const q = new URLSearchParams({ lane: $("del-lane").value });
  const reason = $("del-reason").value.trim();
  if (reason) q.set("reason", reason);
  act(`delete message ${seq}`, "DELETE", `${R()}/messages/${encodeURIComponent(seq)}?${q}`);
});
$("ring-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act("set ring size", "PUT", R() + "/ring", { size: Number($("ring").value || 0) });
});

$("cred-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = $("cred").value.trim();
  if (!v) return;
  // Tokens are three base64url parts; anything else is taken as an API key.
  cred = v.split(".").length === 3 ? { header: "Authorization", value: "Bearer " + v } : { header: "X-API-Key", value: v };
  signedIn("signed in");
});

function signedIn(how) {
  $("cred-form").hidden = true;
  $("auth").textContent = how;
  $("auth").className = "state on";
  refresh();
  setInterval(refresh, 2000);
}

async function signIn() {
  const key = param("key");
  if (key) {
    cred = { header: "X-API-Key", value: key };
    return signedIn("API key");
  }
  try {
    renew = async () => {
      cred = { header: "Authorization", value: "Bearer " + (await token(param("user") || "admin", "admin")) };
    };
    await renew();
    if (param("token")) {
      renew = null; // a token given by hand is not renewed
      return signedIn("token");
    }
    signedIn("demo admin");
  } catch (e) {
    $("auth").textContent = "signed out";
    $("auth").className = "state off";
    $("cred-form").hidden = false;
    log(e.message, false);
  }
}

signIn();

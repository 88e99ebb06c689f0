import { RoomcastClient, RoomcastError } from "/sdk/roomcast.js";
import { param, wsURL, token, el, time } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const chat = $("chat");
const danmaku = $("danmaku");
const MAX_CHAT = 500;
const MAX_DANMAKU = 60;
const MAX_HEARTS = 40; // hearts on the stage at once; a folded item shows at most this many

let client = null;
let room = "";
let removedFor = ""; // why we were removed from the room, if we were

$("room").value = param("room") || "lobby";
$("user").value = param("user") || "guest-" + Math.floor(1000 + Math.random() * 9000);

function setState(text, cls) {
  const s = $("state");
  s.textContent = text;
  s.className = "state " + cls;
}

function showError(text) {
  const e = $("error");
  e.textContent = text;
  e.hidden = !text;
}

function enableSend(on) {
  $("msg").disabled = !on;
  $("send").disabled = !on;
}

function addChat(item) {
  chat.append(item);
  while (chat.children.length > MAX_CHAT) chat.firstElementChild.remove();
  chat.scrollTop = chat.scrollHeight;
}

function addMessage(m) {
  // A system notice, high-class traffic (a gift: priority, not system), chat.
  const li = el("li", m.system ? "msg notice" : m.priority ? "msg high" : "msg");
  li.dataset.msgId = m.msgId;
  li.dataset.from = m.from;
  li.dataset.seq = m.seq;
  li.dataset.lane = m.priority ? "priority" : "normal";
  li.append(el("span", "ts", time(m.ts)));
  if (m.priority) li.append(el("span", "badge", m.kind || (m.system ? "notice" : "high")));
  li.append(el("b", "from", m.from), el("span", "body", m.body));
  addChat(li);
  fly(m);
}

// fly sends a message across the stage (danmaku), in one of a few lanes.
function fly(m) {
  if (danmaku.children.length >= MAX_DANMAKU) return;
  const d = el("span", m.priority ? "dm notice" : "dm", m.body);
  d.style.top = `${(Math.floor(Math.random() * 8) * 11) + 2}%`;
  d.style.animationDuration = `${6 + Math.random() * 3}s`;
  d.dataset.msgId = m.msgId;
  d.addEventListener("animationend", () => d.remove());
  danmaku.append(d);
}

// removeMessage takes a deleted message off the chat and the stage.
function removeMessage(del) {
  const lane = del.priority ? "priority" : "normal";
  for (const li of chat.querySelectorAll("li.msg")) {
    if (li.dataset.seq === String(del.seq) && li.dataset.lane === lane) li.remove();
  }
  if (del.msgId !== "0") {
    for (const d of danmaku.querySelectorAll(".dm")) if (d.dataset.msgId === del.msgId) d.remove();
  }
}

// showFolded shows a folded item (docs/traffic-classes.md): a like item
// as hearts, one per like up to what the stage holds; a join notice item
// as one line ("Ann and 120 others entered").
function showFolded(m) {
  if (m.kind === "like") {
    hearts(m.count);
    return;
  }
  const others = m.count - 1;
  const who = others > 0 ? `${m.body || m.from} and ${others} other${others === 1 ? "" : "s"}` : m.body || m.from;
  const li = el("li", "system folded", m.kind === "enter" ? `${who} entered` : `${who}: ${m.kind} ×${m.count}`);
  li.dataset.count = m.count;
  addChat(li);
}

// hearts floats n hearts up the stage (no more than MAX_HEARTS at once);
// the stage keeps the count of hearts it was asked for in data-shown.
function hearts(n) {
  const box = $("hearts");
  box.dataset.shown = String(Number(box.dataset.shown ?? 0) + n);
  for (let i = 0; i < n && box.children.length < MAX_HEARTS; i++) {
    const h = el("span", "heart", "\u2764");
    h.style.left = `${Math.floor(Math.random() * 70)}%`;
    h.style.animationDelay = `${Math.random() * 0.4}s`;
    h.addEventListener("animationend", () => h.remove());
    box.append(h);
  }
}

function addSkipped(n) {
  addChat(el("li", "missed", `${n} message${n === 1 ? "" : "s"} skipped`));
}

async function start(roomName, user) {
  showError("");
  if (client) client.close();
  chat.replaceChildren();
  room = roomName;
  removedFor = "";
  $("live-room").textContent = room;
  setState("connecting…", "wait");
  const c = new RoomcastClient({
    url: wsURL(),
    tokenFunc: () => token(user),
    // Protobuf frames (the SDK's default); ?enc=json for readable frames.
    encoding: param("enc") === "json" ? "json" : "protobuf",
  });
  client = c;
  c.on("message", (r, m) => r === room && (m.folded ? showFolded(m) : addMessage(m)));
  // The room's like total: on join (and resume), then from each like item.
  c.on("likes", (r, n) => r === room && ($("likes").textContent = n));
  c.on("missed", (r, n) => r === room && addSkipped(n));
  c.on("deleted", (r, del) => r === room && removeMessage(del));
  c.on("joined", (r, j) => r === room && ($("viewers").textContent = j.viewers));
  // The server pushes the count when it changes: no polling.
  c.on("viewers", (r, n) => r === room && ($("viewers").textContent = n));
  // The room's "pinned" attribute (set by the backend) stays above the chat.
  c.on("attrs", (r, a) => {
    if (r !== room) return;
    $("pinned").textContent = a.pinned ?? "";
    $("pinned").hidden = !a.pinned;
  });
  c.on("kick", (r, reason) => {
    if (r && r !== room) return;
    removedFor = reason;
    setState("removed", "off");
    const why = { BANNED: "You were banned from this room.", ADMIN: "An administrator removed you.",
      NOT_PULLING: "You fell behind and were removed; rejoin to continue.",
      ROOM_CLOSED: "This room was closed." }[reason] ?? `Removed (${reason}).`;
    showError(why);
    addChat(el("li", "system", why));
  });
  c.on("state", (up) => {
    setState(up ? "live" : "reconnecting…", up ? "on" : "wait");
  });
  try {
    await c.connect();
    await c.join(room);
    setState("live", "on");
    $("likes").textContent = c.likes(room);
    $("like").disabled = false;
    enableSend(true);
    $("msg").focus();
  } catch (e) {
    setState("offline", "off");
    showError(e instanceof RoomcastError ? `${e.code}: ${e.message.replace(/^roomcast: \w+: /, "")}` : String(e.message ?? e));
  }
}

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!$("join-form").reportValidity()) return;
  start($("room").value.trim(), $("user").value.trim());
});

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("msg");
  const text = input.value.trim();
  if (!text || !client) return;
  input.value = "";
  try {
    await client.send(room, text);
    showError("");
  } catch (e) {
    const code = e instanceof RoomcastError ? e.code : "ERROR";
    const why = { BANNED: "you are banned here", MUTED: "you are muted", RATE_LIMITED: "the room is busy, try again",
      CONN_RATE_LIMITED: "slow down",
      SLOW_MODE: `slow mode: wait ${Math.ceil((e.retryAfterMs ?? 0) / 1000)}s`,
      MESSAGE_BLOCKED: "the room's word filter blocked it",
      ROOM_NOT_JOINED: removedFor === "BANNED" ? "you were banned from this room" : "you are not in this room" }[code] ?? e.message;
    showError(`Not sent (${code}): ${why}`);
  }
});

$("like").addEventListener("click", async () => {
  if (!client) return;
  try {
    await client.like(room);
  } catch (e) {
    showError(`Like not sent (${e instanceof RoomcastError ? e.code : "ERROR"})`);
  }
});

if (param("autojoin") !== "0") start($("room").value, $("user").value);

// roomcast.js — the JavaScript SDK for roomcast (one ES module, no build
// step). It speaks protobuf binary frames (the default; the protobuf code is
// the vendored module vendor/roomcast-pb.min.js, loaded on first connect) or
// JSON text frames (opt.encoding "json", for debugging), see
// docs/protocol.md, and does what the Go SDK (client/) does:
//
//   - connect with a token (or an async tokenFunc, called on every
//     (re)connect so tokens can be refreshed), following a cluster's
//     REDIRECT answer and Kick{MOVED} to the node that serves the user;
//   - join several rooms, send, leave, ping; each room send carries a
//     clientMsgId and is resent with it after UNAVAILABLE or a disconnect,
//     so the room posts it once (docs/protocol.md);
//   - the pull side of the protocol: on a Notify it takes the inline
//     messages; a complete Notify needs no answer, otherwise it
//     acknowledges when they brought it up to the heads, pulls otherwise,
//     and pulls again while the answer says `more`;
//   - dedupe by msgId and by per-lane seq, so each message reaches the
//     "message" listeners once, in seq order per lane;
//   - reconnect with exponential backoff and jitter, resuming every room
//     from its last seq (what the server no longer holds is reported as
//     "missed");
//   - a draining node (a restart) sends Kick{SHUTDOWN, reconnectAfterMs,
//     redirect} before it closes: the client waits that long plus up to
//     DRAIN_JITTER of it (never less), then reconnects to the redirect (or
//     opt.url); not a failure: the backoff does not grow, stats().drains
//     counts them;
//   - ping when idle, every Connected.pingIntervalMs, and when nothing was
//     heard for that long; a server silent for SILENT_PINGS intervals (at
//     least MIN_SILENT_MS) is given up: the client reconnects through
//     opt.url, which redirects it to the node serving it now;
//   - 1:1 and group messages (docs/offline.md), as client/offline.go: see
//     "Offline 1:1 and group messages" below;
//   - live-room moderation (docs/moderation.md): deleteMessage(room, seq,
//     {priority, reason}), moderate(room, action, user, {durationMs,
//     reason}) and setAttrs(room, set, del, {reason}) for hosts and
//     moderators; deletions reach every viewer as "deleted" events.
//
//   import { RoomcastClient } from "/sdk/roomcast.js";
//   const c = new RoomcastClient({ url: "ws://127.0.0.1:8080/ws", token });
//   c.on("message", (room, m) => console.log(room, m.from, m.body));
//   await c.connect();
//   await c.join("lobby");
//   await c.send("lobby", "hello");
//
// Events (c.on(name, fn) returns a function that removes fn):
//   message     (room, msg)     msg = {seq, msgId, from, ts, body, kind, priority, system, cls,
//                               folded, count, likeTotal}
//                               (system: a notice from an admin or the system;
//                               cls: the traffic class, "high", "normal" or "low";
//                               folded: a folded item's count of likes or join notices,
//                               0 otherwise; count: how many messages msg stands for,
//                               folded or 1; likeTotal: on a like item, the room's total)
//   deleted     (room, del)     del = {seq, priority, msgId}: a message was deleted by
//                               moderation; remove it (deletion events and tombstones
//                               never reach "message")
//   missed      (room, n)       n normal messages were evicted before we got them,
//                               shed (low class) or skipped by join's maxRate cap
//   missedPriority (room, n)    n priority messages (notices, high class) had
//                               expired from the room's priority queue before we
//                               pulled (PullResult.missedPriority)
//   kick        (room, reason)  removed from room ("" = the connection): NOT_PULLING, ADMIN, BANNED,
//                               ROOM_CLOSED (the room was closed: do not rejoin), ...
//   state       (connected, err) true once (re)connected and every room rejoined
//   joined      (room, joined)  a Joined answer (fresh or resumed), with viewers and epoch
//   attrs       (room, map)     the room's whole attribute map, on join/resume and each change
//   likes       (room, total)   the room's like total when it grows (join/resume, like items,
//                               the likeTotal of a Notify or PullResult);
//                               like(room) adds a tap (a room's taps are sent
//                               batched: one Send per opt.likeWindowMs, default 1000,
//                               carrying their count), likes(room) reads it
//   viewers     (room, n)       the room's viewer count, pushed when it changes (no polling)
//   reset       (room)          resumed with an earlier room's epoch: the room started over
//                               while away; cursors restart and its messages follow from
//                               its beginning (the ring's oldest)
//   frame       (frame)         every frame received, before it is acted on
//   counters    (counters)      login counters (after every connect and reconnect,
//                               when anything is unread) and every page from counters();
//                               a client with no counters, convMessage or receipt
//                               listener and no offline.seen is live-only: it names
//                               "counters_on_request" in Connect and gets no login
//                               counters (its connect costs the server's offline
//                               store nothing); counters() still fetches them
//   convMessage (conv, msg)     each 1:1 or group entry once (live or pulled), deduped
//                               by msgId; tombstones are skipped; a recall is an entry
//                               with kind "recall" and recallOf set
//   receipt     (receipt)       {conv, user, read}: the other user of a 1:1
//                               conversation read up to a seq
//
// Offline 1:1 and group messages. The server never pushes a pile of stored
// messages: after each (re)connect it pushes Counters (conversations with
// unread entries, a page of them; the client takes their received cursors
// as the truth, so a page delivered but never acknowledged is pulled again
// and deduped), and the app pulls what it shows. Messages sent while the
// client is online are pushed live, handed over once, acknowledged in
// batches (every ackEvery messages or ackIntervalMs, from Counters unless
// set); a gap in live delivery is pulled after gapTimeoutMs, an unread
// backlog from the counters never is (that is the app's call). Methods,
// each resolving with the normalised answer:
//   sendDirect(to, body, {kind, clientMsgId, timeoutMs})  -> {conv, seq, msgId, ts, clientMsgId, duplicate}
//   sendGroup(group, body, {kind, clientMsgId, timeoutMs}) the same, to a group
//       Both always carry a clientMsgId (made when not given) and resend it
//       after UNAVAILABLE, STORE_UNAVAILABLE or a disconnect, with backoff
//       (never sooner than the refusal's retryAfterMs),
//       until stored or timeoutMs (default requestTimeoutMs) passes: the
//       server stores the message once.
//   counters(cursor, limit)         -> {convs, nextCursor, noMore, ackEvery, ackIntervalMs}
//   listConvs(cursor, limit)        -> {convs, nextCursor, noMore} (all conversations)
//   getConv(conv)                   -> summary {conv, type, peer, maxSeq, lastTs, unread,
//                                       received, read, peerRead, last, name, members}
//   pullConv(conv)                  -> page {conv, messages, nextCursor, noMore, maxSeq, expired}:
//       the page after the client's cursor (a conversation it knows nothing
//       of starts at the server's received cursor). Pulling after k
//       acknowledges everything up to k; new entries go to "convMessage"
//       before the promise resolves.
//   pullConvAfter(conv, after, limit) one page after a given cursor
//   syncConv(conv)                  -> n: page by page until noMore, then the
//                                       final empty pull that acknowledges the last page
//   pullAll(limit)                  -> n: every conversation with unreceived entries,
//                                       each request acknowledging the previous answer
//   markRead(conv, seq), ack(conv, received, read) -> {conv, received, read, unread}
//   history(conv, before, limit)    -> {conv, messages, nextBefore, noMore} (roaming;
//                                       returned, not emitted, acknowledges nothing)
//   recall(conv, seq)               -> {conv, seq, recallSeq}
//   createGroup(group, name, ...members), joinGroup(group)
//                                   -> {group, conv, name, owner, members, maxSeq}
//   leaveGroup(group)               -> {group, conv} (the server says no more)
//   members(group, cursor, limit)   -> {group, members: [{user, received, read, since}], nextCursor, noMore}
//   convCursor(conv)                -> the seq up to which conv was received, or null
//   offlineStats()                  -> {messages, duplicates, tombstones, acks, gapPulls}
//
// Numbers: protojson writes 64-bit fields as strings. The SDK turns seqs,
// cursors, ts, viewers, counts and missed into Numbers (exact below 2^53)
// and keeps msgId a string (it uses all 64 bits). Errors: a RoomcastError
// (branch on .code) for an Error frame, a DisconnectedError when the
// connection broke before the answer, a ClosedError after close().

// Frame encodings (opt.encoding). Both hand the SDK the same objects: the
// protojson form of a Frame (lowerCamelCase names, 64-bit integers as
// decimal strings, enums as names, zero values left out).
//   "protobuf" (default): binary WebSocket messages, the protobuf encoding.
//     Smaller frames and the server's cheapest path (as the Go SDK's
//     default). The code comes from vendor/roomcast-pb.min.js (protobufjs +
//     roomcast.proto, built by web/pbjs/build.sh), imported on the first
//     connect (opt.protobufUrl).
//   "json": text WebSocket messages, protojson: readable in the browser's
//     network panel; no extra module.
// A frame is decoded by its WebSocket message type, whatever was chosen.
const ENCODINGS = ["protobuf", "json"];
const PROTOBUF_URL = new URL("./vendor/roomcast-pb.min.js", import.meta.url).href;
const TO_OBJECT = { longs: String, enums: String, bytes: String, json: true };
const protobufModules = new Map(); // url -> Promise of the module's Frame

// loadFrameType imports the protobuf code once per URL (again after a
// failure).
function loadFrameType(url) {
  let p = protobufModules.get(url);
  if (!p) {
    p = import(url)
      .then((mod) => {
        if (!mod.Frame) throw new Error("no Frame export");
        return mod.Frame;
      })
      .catch((e) => {
        protobufModules.delete(url);
        throw new Error(`roomcast: cannot load the protobuf encoding from ${url}: ${e.message ?? e}`);
      });
    protobufModules.set(url, p);
  }
  return p;
}

// newCodec makes the frame codec of one client: encode(frame object) ->
// what WebSocket.send takes; decode(MessageEvent.data) -> frame object.
async function newCodec(encoding, url) {
  const Frame = encoding === "protobuf" ? await loadFrameType(url) : null;
  return {
    binary: !!Frame,
    encode: Frame ? (f) => Frame.encode(Frame.fromObject(f)).finish() : (f) => JSON.stringify(f),
    decode(data) {
      if (typeof data === "string") return JSON.parse(data);
      if (!Frame) throw new Error("roomcast: binary frame on a JSON connection");
      return Frame.toObject(Frame.decode(new Uint8Array(data)), TO_OBJECT);
    },
  };
}

// FEATURES are the optional frame kinds this SDK understands, named in
// Connect (docs/protocol.md, "Features"): the server pushes RoomCount only
// to clients that name "room_count". Frames of a kind the SDK does not know
// (a newer server's) are decoded to objects without a known key and
// skipped.
const FEATURES = ["room_count"];
const PULL_STALE_MS = 2000; // an unanswered pull blocks the next one this long
const MAX_REDIRECTS = 3;
// Liveness (as the Go SDK's client.SilentPings, client.MinSilent): the
// connection is given up after SILENT_PINGS ping intervals without a frame
// from the server, and never sooner than MIN_SILENT_MS.
export const SILENT_PINGS = 2;
export const MIN_SILENT_MS = 2000;

/** An Error frame answering a request; branch on `code`. */
export class RoomcastError extends Error {
  constructor(code, message, retryAfterMs = 0) {
    super(`roomcast: ${code}: ${message}`);
    this.name = "RoomcastError";
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The connection broke before a request was answered (like the Go SDK's ErrDisconnected). */
export class DisconnectedError extends Error {
  constructor(detail) {
    super(`roomcast: disconnected${detail ? " (" + detail + ")" : ""}`);
    this.name = "DisconnectedError";
  }
}

/** The client was closed (ErrClosed). */
export class ClosedError extends Error {
  constructor() {
    super("roomcast: closed");
    this.name = "ClosedError";
  }
}

// RedirectError is a REDIRECT answer to Connect.
class RedirectError extends Error {
  constructor(url) {
    super("roomcast: redirected to " + url);
    this.url = url;
  }
}

// Kind of the priority messages carrying room attribute changes.
const ATTRS_KIND = "room.attrs";

const num = (v) => (v === undefined || v === null ? 0 : Number(v));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Normalises a RoomMessage from protojson. */
function toRoomMessage(m) {
  return {
    seq: num(m.seq),
    msgId: String(m.msgId ?? "0"),
    from: m.from ?? "",
    ts: num(m.ts),
    body: m.body ?? "",
    kind: m.kind ?? "",
    priority: !!m.priority,
    system: !!m.system,
    deleted: !!m.deleted,
    deletes: m.deletes ? { seq: num(m.deletes.seq), priority: !!m.deletes.priority, msgId: String(m.deletes.msgId ?? "0") } : null,
    cls: toClass(m.class),
    folded: num(m.folded),
    count: num(m.folded) || 1,
    likeTotal: num(m.likeTotal),
  };
}

// toClass names a RoomMessage's traffic class (docs/traffic-classes.md):
// "high", "normal" or "low".
function toClass(c) {
  if (c === "HIGH" || c === 1) return "high";
  if (c === "LOW" || c === 2) return "low";
  return "normal";
}

/** Normalises a ConvMessage (entries in pages carry no conv: conv is given). */
function toConvMessage(m, conv = "") {
  return {
    conv: m.conv ?? conv,
    seq: num(m.seq),
    msgId: String(m.msgId ?? "0"),
    from: m.from ?? "",
    ts: num(m.ts),
    body: m.body ?? "",
    kind: m.kind ?? "",
    clientMsgId: m.clientMsgId ?? "",
    recalled: !!m.recalled,
    recallOf: num(m.recallOf),
    tombstone: !!m.tombstone,
  };
}

function toSummary(s) {
  return {
    conv: s.conv,
    type: s.type ?? "CONV_UNSPECIFIED", // DIRECT or GROUP
    peer: s.peer ?? "",
    maxSeq: num(s.maxSeq),
    lastTs: num(s.lastTs),
    unread: num(s.unread),
    received: num(s.received),
    read: num(s.read),
    peerRead: num(s.peerRead),
    last: (s.last ?? []).map((m) => toConvMessage(m, s.conv)),
    name: s.name ?? "",
    members: num(s.members),
  };
}

function toPage(p) {
  return {
    conv: p.conv,
    messages: (p.messages ?? []).map((m) => toConvMessage(m, p.conv)),
    nextCursor: num(p.nextCursor),
    noMore: !!p.noMore,
    maxSeq: num(p.maxSeq),
    expired: num(p.expired),
  };
}

function toCounters(c) {
  return {
    convs: (c.convs ?? []).map(toSummary),
    nextCursor: c.nextCursor ?? "",
    noMore: !!c.noMore,
    ackEvery: num(c.ackEvery),
    ackIntervalMs: num(c.ackIntervalMs),
  };
}

function toConvList(l) {
  return { convs: (l.convs ?? []).map(toSummary), nextCursor: l.nextCursor ?? "", noMore: !!l.noMore };
}

function toConvSent(s) {
  return {
    conv: s.conv,
    seq: num(s.seq),
    msgId: String(s.msgId ?? "0"),
    ts: num(s.ts),
    clientMsgId: s.clientMsgId ?? "",
    duplicate: !!s.duplicate,
  };
}

function toAcked(a) {
  return { conv: a.conv, received: num(a.received), read: num(a.read), unread: num(a.unread) };
}

function toGroupInfo(g) {
  return {
    group: g.group,
    conv: g.conv ?? "",
    name: g.name ?? "",
    owner: g.owner ?? "",
    members: num(g.members),
    maxSeq: num(g.maxSeq),
  };
}

// newRing is a dedupe window: the last n ids.
const newRing = () => ({ seen: new Set(), order: [], next: 0 });

// remember records id in ring and reports whether it was already there.
function remember(ring, id, window) {
  if (ring.seen.has(id)) return true;
  if (ring.order.length < window) {
    ring.order.push(id);
  } else {
    ring.seen.delete(ring.order[ring.next]);
    ring.order[ring.next] = id;
    ring.next = (ring.next + 1) % window;
  }
  ring.seen.add(id);
  return false;
}

// newClientMsgId makes a client_msg_id: 12 random bytes in hex.
function newClientMsgId() {
  const b = new Uint8Array(12);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// DRAIN_JITTER is the most a draining node's delay is stretched, as a
// fraction of it: the client never comes back sooner, and at most 10% later.
export const DRAIN_JITTER = 0.1;

// drainWaitMs is how long to wait for a drain that asked for ms.
function drainWaitMs(ms) {
  return ms + Math.random() * ms * DRAIN_JITTER;
}

// retryAfterMs is the wait a refusal asked for (0 if none): the client
// never resends, reconnects or rejoins sooner.
function retryAfterMs(e) {
  return e instanceof RoomcastError ? e.retryAfterMs || 0 : 0;
}

// retryable reports errors after which a send may have been stored or
// not: resend with the same client_msg_id.
function retryable(e) {
  if (e instanceof RoomcastError) return e.code === "STORE_UNAVAILABLE" || e.code === "UNAVAILABLE";
  return e instanceof DisconnectedError;
}

// advance moves the cursor over contiguous received seqs.
function advance(cs) {
  while (cs.ahead.has(cs.cursor + 1)) {
    cs.ahead.delete(cs.cursor + 1);
    cs.cursor++;
  }
  if (cs.ahead.size === 0) {
    cs.gapAt = 0;
  } else if (cs.cursor >= cs.backlog && !cs.gapAt) {
    // A gap in live delivery (a push lost or overtaken): pulled after
    // gapTimeoutMs. A backlog the app has not pulled yet is not a gap.
    cs.gapAt = Date.now();
  }
}

// markDirty notes that the cursor is ahead of the last acknowledgement,
// after live messages or a pull the client made by itself (a gap, a
// conversation met live): the offline tick acknowledges it after
// ackIntervalMs. Pages the app pulls are acknowledged by its next pull.
function markDirty(cs) {
  if (cs.cursor > cs.acked && !cs.dirty) cs.dirty = Date.now();
}

// ackFrame makes the acknowledgement of everything received.
function ackFrame(cs, conv) {
  cs.acked = cs.cursor;
  cs.pending = 0;
  cs.dirty = 0;
  return { conv, received: cs.cursor };
}

export class RoomcastClient {
  /**
   * @param {object} opt
   * @param {string} opt.url            ws:// or wss:// URL of /ws
   * @param {string} [opt.token]        token, or:
   * @param {() => Promise<string>} [opt.tokenFunc]  called on every (re)connect
   * @param {number} [opt.pullLimit=0]  page size of room pulls (0: the server's)
   * @param {boolean} [opt.reconnect=true]
   * @param {number} [opt.backoffMinMs=100]
   * @param {number} [opt.backoffMaxMs=10000]
   * @param {number} [opt.requestTimeoutMs=10000]
   * @param {number} [opt.dedupeWindow=4096]  msgIds remembered per room and per conversation
   * @param {number} [opt.likeWindowMs=1000]  like() sends a room's taps of this window as one
   *        Send carrying their count; negative: one Send per tap
   * @param {number} [opt.likeBatchMax=20]  taps per Send at most (a full batch goes at once;
   *        the server refuses a count above its gateway.send_burst, default 20)
   * @param {object} [opt.offline]      1:1 and group messages:
   * @param {(conv: string, msgId: string) => boolean} [opt.offline.seen]  asked before
   *        "convMessage" whether the app already has the message (its local
   *        store): dedupe that survives a restart of the app
   * @param {number} [opt.offline.ackEvery=0]      batch acks of live messages; 0: the
   * @param {number} [opt.offline.ackIntervalMs=0] server's (Counters; 20 and 1000)
   * @param {number} [opt.offline.gapTimeoutMs=1000] pull a gap in live delivery after this
   * @param {typeof WebSocket} [opt.WebSocket] implementation (default: the global)
   * @param {"protobuf"|"json"} [opt.encoding="protobuf"] frames on the wire (see ENCODINGS)
   * @param {string} [opt.protobufUrl] where the protobuf module is (default:
   *        vendor/roomcast-pb.min.js next to this file)
   */
  constructor(opt) {
    if (!opt || !opt.url) throw new Error("roomcast: url is required");
    if (opt.encoding !== undefined && !ENCODINGS.includes(opt.encoding)) {
      throw new Error(`roomcast: encoding must be "protobuf" or "json", not ${JSON.stringify(opt.encoding)}`);
    }
    this.opt = {
      pullLimit: 0,
      reconnect: true,
      backoffMinMs: 100,
      backoffMaxMs: 10000,
      requestTimeoutMs: 10000,
      dedupeWindow: 4096,
      likeWindowMs: 1000,
      likeBatchMax: 20,
      WebSocket: globalThis.WebSocket,
      encoding: "protobuf",
      protobufUrl: PROTOBUF_URL,
      ...opt,
      offline: { ackEvery: 0, ackIntervalMs: 0, gapTimeoutMs: 1000, seen: null, ...(opt.offline ?? {}) },
    };
    this.url = ""; // current target after redirects; "" = opt.url
    this.moved = false; // the server moved us: reconnect without backoff
    this.drainMs = -1; // a draining node asked us to wait this long (-1: none)
    this.rooms = new Map(); // name -> {seq, pseq, ring, joined, resume, pullingAt}
    this.listeners = new Map();
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.nextId = 0;
    this.ws = null;
    this.codec = null; // set by the first connect (newCodec)
    this.connected = false;
    this.closed = false;
    this.waiters = []; // resolved when connected
    this.likeBatches = new Map(); // room -> {n, timer, waiters: [{resolve, reject}]}: like() taps collecting
    this.pingTimer = null;
    this.offTimer = null;
    this.offBusy = false;
    this.reconnecting = false;
    this.lastSend = 0;
    this.lastRecv = 0; // when the live session last heard a frame
    this.lastProbe = 0; // when a Ping was last sent because nothing was heard
    this.pingIntervalMs = 25000;
    this.user = "";
    this.st = { notifies: 0, pulls: 0, acks: 0, messages: 0, duplicates: 0, missed: 0, missedPriority: 0, reconnects: 0, framesIn: 0, drains: 0 };
    // Offline side (as client/offline.go): conv id -> state, server hints.
    this.convs = new Map();
    this.serverAckEvery = 0;
    this.serverAckIntervalMs = 0;
    this.offSt = { messages: 0, duplicates: 0, tombstones: 0, acks: 0, gapPulls: 0 };
  }

  /** Adds a listener; returns a function that removes it. */
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event).delete(fn);
  }

  emit(event, ...args) {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        fn(...args);
      } catch (e) {
        console.error("roomcast listener", event, e);
      }
    }
  }

  /** Counters of what the client saw (like the Go SDK's Stats). */
  stats() {
    return { ...this.st };
  }

  /** The client's last seqs in a room, or null when not joined. */
  cursors(room) {
    const r = this.rooms.get(room);
    return r ? { seq: r.seq, pseq: r.pseq } : null;
  }

  /** Where the client connects now (after redirects). */
  target() {
    return this.url || this.opt.url;
  }

  /** Connects and authenticates; resolves with the Connected frame. */
  async connect() {
    if (this.closed) throw new ClosedError();
    const connected = await this.open();
    this.setConnected(true, null);
    return connected;
  }

  /** Ends the connection for good and stops reconnecting. */
  close() {
    // Taps still collected go out first (their answers are not awaited).
    for (const room of [...this.likeBatches.keys()]) {
      const b = this.takeLikes(room);
      if (this.ws && this.connected) this.write({ send: { room, body: "\u2764", kind: "like", count: b.n } });
      for (const w of b.waiters) w.reject(new ClosedError());
    }
    this.closed = true;
    this.stopTimers();
    if (this.ws) this.ws.close(1000, "client");
    this.failPending(new ClosedError());
    for (const w of this.waiters) w.reject(new ClosedError());
    this.waiters = [];
  }

  async token() {
    return this.opt.tokenFunc ? await this.opt.tokenFunc() : this.opt.token;
  }

  // open connects, following the cluster's redirects to the node that
  // serves this user.
  async open() {
    for (let hops = 0; ; hops++) {
      try {
        return await this.openOnce(this.target());
      } catch (e) {
        if (e instanceof RedirectError && hops < MAX_REDIRECTS) {
          this.url = e.url;
          continue;
        }
        throw e;
      }
    }
  }

  // features are what this client names in Connect: FEATURES, and
  // "counters_on_request" when the app uses no offline feature (no
  // counters, convMessage or receipt listener, no offline.seen).
  features() {
    const offline = ["counters", "convMessage", "receipt"].some((e) => this.listeners.get(e)?.size > 0) || this.opt.offline.seen;
    return offline ? FEATURES : [...FEATURES, "counters_on_request"];
  }

  // openOnce dials one WebSocket, sends Connect and resolves on Connected.
  async openOnce(url) {
    this.codec ??= await newCodec(this.opt.encoding, this.opt.protobufUrl);
    const codec = this.codec;
    const token = await this.token();
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this.opt.WebSocket(url);
      } catch (e) {
        reject(e);
        return;
      }
      let settled = false;
      const timer = setTimeout(() => {
        if (!settled) {
          settled = true;
          ws.close();
          reject(new Error("roomcast: connect timed out"));
        }
      }, this.opt.requestTimeoutMs);
      if (codec.binary) ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        ws.send(codec.encode({ id: 1, connect: { token, client: "roomcast-js/1", features: this.features() } }));
        this.lastSend = Date.now();
      };
      ws.onmessage = (ev) => {
        let f;
        try {
          f = codec.decode(ev.data);
        } catch {
          return;
        }
        if (!settled) {
          if (f.error) {
            settled = true;
            clearTimeout(timer);
            ws.close();
            if (f.error.code === "REDIRECT" && f.error.redirect) reject(new RedirectError(f.error.redirect));
            else reject(new RoomcastError(f.error.code, f.error.message ?? "", num(f.error.retryAfterMs)));
          } else if (f.connected) {
            settled = true;
            clearTimeout(timer);
            this.ws = ws;
            this.user = f.connected.user;
            this.pingIntervalMs = num(f.connected.pingIntervalMs) || 25000;
            this.lastRecv = Date.now();
            this.startTimers();
            resolve(f.connected);
          }
          return;
        }
        if (this.ws === ws) this.lastRecv = Date.now();
        this.handle(f);
      };
      ws.onclose = (ev) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`roomcast: connection closed (${ev.code} ${ev.reason})`));
          return;
        }
        if (this.ws === ws) this.lost(ev);
      };
      ws.onerror = () => {}; // onclose follows
    });
  }

  setConnected(up, err) {
    this.connected = up;
    if (up) {
      for (const w of this.waiters) w.resolve();
      this.waiters = [];
    }
    this.emit("state", up, err);
  }

  // lost handles a broken connection: fail what was in flight, then
  // reconnect with backoff unless closed.
  lost(ev) {
    this.ws = null;
    this.stopTimers();
    const err = new DisconnectedError(`${ev.code}${ev.reason ? " " + ev.reason : ""}`);
    this.failPending(err);
    this.connected = false;
    if (this.closed || this.reconnecting) return; // the reconnect loop goes on
    this.emit("state", false, err);
    if (!this.opt.reconnect) {
      for (const w of this.waiters) w.reject(err);
      this.waiters = [];
      return;
    }
    this.reconnect();
  }

  async reconnect() {
    this.reconnecting = true;
    try {
      await this.reconnectLoop();
    } finally {
      this.reconnecting = false;
    }
  }

  async reconnectLoop() {
    let backoff = this.opt.backoffMinMs;
    let moved = this.moved;
    this.moved = false;
    let asked = 0; // the last refusal's retryAfterMs
    let drain = this.drainMs;
    this.drainMs = -1;
    while (!this.closed) {
      let d = Math.max(moved ? 0 : backoff / 2 + Math.random() * (backoff / 2), asked); // jitter
      moved = false;
      if (drain >= 0) {
        // Asked by a draining node, not a failure: its delay (never less)
        // with jitter; the backoff does not grow.
        d = drainWaitMs(drain);
        drain = -1;
        this.st.drains++;
      }
      await sleep(d);
      if (this.closed) return;
      try {
        await this.open();
        await this.resume();
        this.st.reconnects++;
        this.setConnected(true, null);
        return;
      } catch (e) {
        if (this.ws) {
          const ws = this.ws;
          this.ws = null; // not "lost": this loop goes on
          this.stopTimers();
          ws.close();
          this.failPending(new DisconnectedError("resume failed"));
        }
        this.url = ""; // a redirect target may be gone: back to the seed URL
        asked = retryAfterMs(e);
        backoff = Math.min(backoff * 2, this.opt.backoffMaxMs);
      }
    }
  }

  // resume rejoins every joined room from the client's cursors.
  async resume() {
    for (const r of [...this.rooms.values()]) {
      if (!r.joined) continue;
      r.pullingAt = 0;
      r.resume = true;
      try {
        const join = { room: r.name, resume: true, afterSeq: r.seq, afterPseq: r.pseq };
        if (r.epoch && r.epoch !== "0") join.epoch = r.epoch; // a string: 64 bits
        if (r.maxRate) join.maxRate = r.maxRate;
        await this.request({ join }, { resume: true });
      } catch (e) {
        if (e instanceof RoomcastError && (e.code === "BANNED" || e.code === "ROOM_NOT_FOUND")) {
          this.rooms.delete(r.name);
          this.emit("kick", r.name, e.code);
          continue;
        }
        throw e;
      }
    }
  }

  failPending(err) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  // ready resolves when a session is up (waiting through a reconnect).
  ready(timeoutMs = this.opt.requestTimeoutMs) {
    if (this.connected && this.ws) return Promise.resolve();
    if (this.closed) return Promise.reject(new ClosedError());
    if (!this.opt.reconnect && !this.reconnecting) return Promise.reject(new DisconnectedError("not connected"));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          reject(new Error("roomcast: not connected (timed out)"));
        }
      }, timeoutMs);
    });
  }

  write(frame) {
    this.ws.send(this.codec.encode(frame));
    this.lastSend = Date.now();
  }

  // request sends an operation and resolves with the frame answering it,
  // waiting for a reconnect first if need be; timeoutMs bounds both. During
  // a resume (opts.resume) the session is up but not yet "connected".
  async request(body, { resume = false, timeoutMs = this.opt.requestTimeoutMs } = {}) {
    const deadline = Date.now() + timeoutMs;
    if (!resume) await this.ready(timeoutMs);
    if (!this.ws) throw new DisconnectedError("not connected");
    this.nextId = (this.nextId % 0xfffffffe) + 1;
    const id = this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("roomcast: request timed out"));
      }, Math.max(deadline - Date.now(), 0));
      this.pending.set(id, { resolve, reject, timer });
      this.write({ id, ...body });
    });
  }

  startTimers() {
    this.stopTimers();
    this.pingTimer = setInterval(() => this.liveness(), Math.max(this.pingIntervalMs / 8, 10));
    const period = Math.min(this.ackIntervalMs(), this.opt.offline.gapTimeoutMs || 1000) / 2;
    this.offTimer = setInterval(() => this.offlineTick(), Math.max(period, 20));
  }

  // liveness pings when nothing was sent, or nothing heard (once per
  // interval), for a ping interval, and gives up a server silent for
  // SILENT_PINGS intervals: the socket is dropped at once (a browser's
  // close() of a silent peer would wait for its closing handshake) and the
  // client reconnects through opt.url.
  liveness() {
    const ws = this.ws;
    if (!ws) return;
    const now = Date.now();
    const heard = now - this.lastRecv;
    if (heard >= Math.max(SILENT_PINGS * this.pingIntervalMs, MIN_SILENT_MS)) {
      this.url = ""; // the node may be stopped: ask the seed where to go
      this.lost({ code: 4000, reason: `server silent for ${heard} ms` });
      ws.close();
      return;
    }
    const quietIn = heard >= this.pingIntervalMs && now - this.lastProbe >= this.pingIntervalMs;
    if (now - this.lastSend >= this.pingIntervalMs || quietIn) {
      if (quietIn) this.lastProbe = now;
      this.write({ ping: {} });
    }
  }

  stopTimers() {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.offTimer) clearInterval(this.offTimer);
    this.pingTimer = null;
    this.offTimer = null;
  }

  /** Joins a room; resolves with {room, seq, pseq, viewers, maxRate}.
   * maxRate (a weak device): the most room messages per second wanted;
   * the server samples the room's normal and low messages, always sends
   * high and priority ones, and reports what it skipped as "missed".
   * 0 (default): no cap; at most 10000 (else INVALID_ARGUMENT). Kept for
   * the resumes after a reconnect. */
  async join(room, { maxRate = 0 } = {}) {
    let r = this.rooms.get(room);
    if (!r) {
      r = { name: room, seq: 0, pseq: 0, ring: newRing(), joined: false, resume: false, pullingAt: 0, maxRate: 0 };
      this.rooms.set(room, r);
    }
    r.resume = false;
    if (!r.joined) r.maxRate = maxRate; // a second join of a joined room is refused: the cap stays
    try {
      const join = { room };
      if (maxRate) join.maxRate = maxRate;
      const f = await this.request({ join });
      const j = f.joined;
      return { room: j.room, seq: num(j.seq), pseq: num(j.pseq), viewers: num(j.viewers), maxRate: num(j.maxRate) };
    } catch (e) {
      if (!r.joined) this.rooms.delete(room);
      throw e;
    }
  }

  /** Leaves a room. */
  async leave(room) {
    await this.flushLikes(room).catch(() => {}); // the room's collected taps go out first
    this.rooms.delete(room);
    await this.request({ leave: { room } });
  }

  /** Posts to a joined room; resolves with {room, seq, msgId, priority,
   * clientMsgId, duplicate}. The message carries a clientMsgId (made when
   * not given) that is resent after UNAVAILABLE or a disconnect, with
   * backoff, until the room answers or timeoutMs (default
   * requestTimeoutMs) passes: the room posts it once, and answers a resend
   * of an accepted one with its first seq and msgId (duplicate true). */
  async send(room, body, { kind = "", priority = false, clientMsgId = "", timeoutMs, count = 0 } = {}) {
    let cmid = "";
    const f = await this.sendOnce((id) => {
      cmid = id;
      const send = { room, body, clientMsgId: id };
      if (kind) send.kind = kind;
      if (priority) send.priority = true;
      if (count > 1) send.count = count;
      return { send };
    }, { clientMsgId, timeoutMs });
    const s = f.sent;
    return { room: s.room, seq: num(s.seq), msgId: String(s.msgId), priority: !!s.priority, clientMsgId: cmid, duplicate: !!s.duplicate };
  }

  /** Measures a round trip in milliseconds. */
  async ping() {
    const start = performance.now();
    await this.request({ ping: {} });
    return performance.now() - start;
  }

  // handle acts on one frame of a live session, in arrival order. Offline
  // frames are applied before the request they answer resolves, so the
  // "convMessage" events of a page have run when pullConv resolves.
  handle(f) {
    this.st.framesIn++;
    this.emit("frame", f);
    if (f.joined) this.onJoined(f.joined);
    if (f.roomCount) this.emit("viewers", f.roomCount.room, num(f.roomCount.viewers));
    this.onOfflineFrame(f);
    if (f.id) {
      const p = this.pending.get(f.id);
      if (p) {
        this.pending.delete(f.id);
        clearTimeout(p.timer);
        if (f.error) p.reject(new RoomcastError(f.error.code, f.error.message ?? "", num(f.error.retryAfterMs)));
        else p.resolve(f);
      }
    }
    if (f.notify) this.onNotify(f.notify);
    else if (f.pullResult) this.onPullResult(f.pullResult);
    else if (f.kick) this.onKick(f.kick);
  }

  // onJoined runs before any Notify of the room is read. A fresh join
  // starts at the heads; a resume keeps its cursors unless the room
  // restarted below them.
  onJoined(j) {
    const r = this.rooms.get(j.room);
    if (!r) return;
    const seq = num(j.seq), pseq = num(j.pseq);
    r.joined = true;
    r.epoch = String(j.epoch ?? "0");
    const av = num(j.attrsVersion);
    if (!r.attrs || av !== r.attrsVersion) {
      r.attrs = { ...(j.attrs ?? {}) };
      r.attrsVersion = av;
      this.emit("attrs", j.room, { ...r.attrs });
    }
    if (j.reset) {
      // The cursors are an earlier room's: the server starts from the
      // new room's beginning.
      r.seq = 0;
      r.pseq = 0;
    } else {
      if (!r.resume || seq < r.seq) r.seq = seq;
      if (!r.resume || pseq < r.pseq) r.pseq = pseq;
    }
    r.resume = false;
    this.emit("joined", j.room, { room: j.room, seq, pseq, viewers: num(j.viewers), epoch: r.epoch });
    this.raiseLikes(j.room, r, num(j.likeTotal));
    if (j.reset) this.emit("reset", j.room);
  }

  onNotify(n) {
    this.st.notifies++;
    const room = n.room;
    this.apply(room, n.messages, num(n.missed), 0, num(n.likeTotal)); // a Notify with a priority gap is never inline
    const r = this.rooms.get(room);
    if (!r) return;
    if (n.complete) {
      // Everything new came inline: the cursors follow the heads and the
      // server expects no answer.
      r.seq = Math.max(r.seq, num(n.seq));
      r.pseq = Math.max(r.pseq, num(n.pseq));
      return;
    }
    if (!this.ws) return;
    const ack = r.seq >= num(n.seq) && r.pseq >= num(n.pseq);
    if (!ack && Date.now() - r.pullingAt < PULL_STALE_MS) return; // a pull is on its way
    if (!ack) r.pullingAt = Date.now();
    this.pull(r, ack);
  }

  pull(r, ack) {
    const p = { room: r.name, afterSeq: r.seq, afterPseq: r.pseq };
    if (this.opt.pullLimit) p.limit = this.opt.pullLimit;
    if (ack) p.ack = true;
    this.st.pulls++;
    if (ack) this.st.acks++;
    // id 0: the answer is known by its type (the server may share it).
    this.write({ pull: p });
  }

  onPullResult(res) {
    const r = this.rooms.get(res.room);
    if (r) {
      r.pullingAt = 0;
      // A room that restarted reports heads below our cursors: follow it.
      if (num(res.seq) < r.seq) r.seq = num(res.seq);
      if (num(res.pseq) < r.pseq) r.pseq = num(res.pseq);
    }
    this.apply(res.room, res.messages, num(res.missed), num(res.missedPriority), num(res.likeTotal));
    const again = this.rooms.get(res.room);
    if (res.more && again && this.ws) {
      again.pullingAt = Date.now();
      this.pull(again, false);
    }
  }

  onKick(k) {
    const after = num(k.reconnectAfterMs);
    if (k.reason === "SHUTDOWN" && !k.room) {
      // A draining node: when it closes the connection, wait `after`
      // (plus jitter), then reconnect where it says.
      if (after > 0) this.drainMs = after;
      if (k.redirect) this.url = k.redirect;
    }
    if (k.reason === "MOVED" && k.redirect) {
      // The cluster moved this user: when the server closes the
      // connection, reconnect there at once and resume.
      this.url = k.redirect;
      this.moved = true;
      return;
    }
    const room = k.room ?? "";
    if (room) this.rooms.delete(room);
    this.emit("kick", room, k.reason ?? "UNSPECIFIED");
  }

  // apply moves the room's cursors over msgs and emits the new ones, and
  // what the server no longer held as "missed" and "missedPriority".
  // likeTotal is the frame's like total (0: none): it raises the room's
  // like total like a like item, also when the item itself was not given
  // (a maxRate cap sampled it) or was evicted before the pull.
  apply(room, msgs, missed, missedPriority, likeTotal) {
    const r = this.rooms.get(room);
    if (!r) return;
    const fresh = [];
    let likes = likeTotal || 0; // the highest like total of the frame and its messages
    for (const raw of msgs ?? []) {
      const m = toRoomMessage(raw);
      const lane = m.priority ? "pseq" : "seq";
      if (m.seq <= r[lane] || remember(r.ring, m.msgId, this.opt.dedupeWindow)) {
        this.st.duplicates++;
        continue;
      }
      r[lane] = m.seq;
      likes = Math.max(likes, m.likeTotal);
      if (m.system && m.kind === ATTRS_KIND) {
        this.applyAttrs(room, r, m);
        continue;
      }
      fresh.push(m);
    }
    this.raiseLikes(room, r, likes);
    if (missed > 0) {
      this.st.missed += missed;
      this.emit("missed", room, missed);
    }
    if (missedPriority > 0) {
      this.st.missedPriority += missedPriority;
      this.emit("missedPriority", room, missedPriority);
    }
    const shown = fresh.filter((m) => !m.deletes && !m.deleted);
    this.st.messages += shown.length;
    for (const m of fresh) {
      if (m.deletes) this.emit("deleted", room, m.deletes);
      else if (!m.deleted) this.emit("message", room, m);
    }
  }

  /**
   * Deletes a message of a room (docs/moderation.md): your own within the
   * server's room.delete_window, any as a moderator, host or admin.
   * Resolves with {room, seq, priority, eventPseq}; every viewer gets "deleted".
   */
  async deleteMessage(room, seq, { priority = false, reason = "" } = {}) {
    const del = { room, seq: String(seq) };
    if (priority) del.priority = true;
    if (reason) del.reason = reason;
    const d = (await this.request({ deleteMessage: del })).messageDeleted;
    return { room: d.room, seq: num(d.seq), priority: !!d.priority, eventPseq: num(d.eventPseq) };
  }

  /**
   * Moderates a room as its host or moderator (on a user of a lower rank)
   * or with an admin token: action is "MUTE", "UNMUTE" or "KICK"
   * (docs/moderation.md). Rejects with MODERATION_FORBIDDEN otherwise.
   */
  async moderate(room, action, user, { durationMs = 0, reason = "" } = {}) {
    const m = { room, action, user };
    if (durationMs > 0) m.durationMs = String(durationMs);
    if (reason) m.reason = reason;
    await this.request({ moderateRoom: m });
  }

  /**
   * Sets and deletes attributes of a room (the pinned message, a poll) as
   * its host or moderator, or with an admin token, as PATCH
   * /api/v1/rooms/{room}/attrs does: every viewer gets an "attrs" event.
   * set: {key: value}, del: [key]. Rejects with MODERATION_FORBIDDEN for
   * other users.
   */
  async setAttrs(room, set = {}, del = [], { reason = "" } = {}) {
    const m = { room, action: "SET_ATTRS", attrsSet: set, attrsDelete: del };
    if (reason) m.reason = reason;
    await this.request({ moderateRoom: m });
  }

  // applyAttrs applies a room attribute change (a priority message of kind
  // "room.attrs") newer than the map and emits the whole map.
  applyAttrs(room, r, m) {
    let ch;
    try { ch = JSON.parse(m.body); } catch { return; }
    if (!(ch.version > (r.attrsVersion ?? 0))) return;
    r.attrs = { ...(r.attrs ?? {}) };
    for (const k of ch.delete ?? []) delete r.attrs[k];
    Object.assign(r.attrs, ch.set ?? {});
    r.attrsVersion = ch.version;
    this.emit("attrs", room, { ...r.attrs });
  }

  /** A joined room's attributes (a copy), or null. */
  attrs(room) {
    const r = this.rooms.get(room);
    return r && r.attrs ? { ...r.attrs } : null;
  }

  // ---- Folding (docs/traffic-classes.md) ----
  // The room's owner counts likes and join notices per round and sends one
  // item per kind: msg.folded (and msg.count) is how many it stands for,
  // from/body are the round's first; a like item carries the room's total.

  /** Adds one like (a tap). A room's taps of opt.likeWindowMs (default
   * 1000) go as one Send of kind "like" whose count is how many (at most
   * opt.likeBatchMax: a full batch goes at once; leave() and close() send
   * what is collected). The room's owner counts the batch into the round's
   * like item and answers when that is written: the promise resolves with
   * the batch's answer (seq: the item's), the same for every tap in it. */
  like(room) {
    if (this.opt.likeWindowMs < 0) return this.send(room, "\u2764", { kind: "like" });
    let b = this.likeBatches.get(room);
    if (!b) {
      b = { n: 0, waiters: [], timer: setTimeout(() => this.flushLikes(room).catch(() => {}), this.opt.likeWindowMs) };
      this.likeBatches.set(room, b);
    }
    b.n++;
    const p = new Promise((resolve, reject) => b.waiters.push({ resolve, reject }));
    if (b.n >= this.opt.likeBatchMax) this.flushLikes(room).catch(() => {});
    return p;
  }

  // takeLikes takes a room's collecting batch out (stopping its timer).
  takeLikes(room) {
    const b = this.likeBatches.get(room);
    if (!b) return null;
    this.likeBatches.delete(room);
    clearTimeout(b.timer);
    return b;
  }

  // flushLikes sends a room's collected taps as one Send now and settles
  // their promises with its answer.
  async flushLikes(room) {
    const b = this.takeLikes(room);
    if (!b) return;
    try {
      const sent = await this.send(room, "\u2764", { kind: "like", count: b.n });
      for (const w of b.waiters) w.resolve(sent);
    } catch (e) {
      for (const w of b.waiters) w.reject(e);
    }
  }

  /** A joined room's like total as known (Joined, then like items); 0 when not joined. */
  likes(room) {
    return this.rooms.get(room)?.likes ?? 0;
  }

  // raiseLikes raises a room's like total (totals only grow: an item read
  // late changes nothing) and emits "likes" when it moved.
  raiseLikes(room, r, total) {
    if (!(total > (r.likes ?? 0))) return;
    r.likes = total;
    this.emit("likes", room, total);
  }

  // ---- Offline 1:1 and group messages (client/offline.go) ----

  // conv returns the state of one conversation:
  //   known    the cursor is meaningful
  //   cursor   every seq up to here was received (handed over or skipped)
  //   backlog  max seq at login: up to it the app pulls on demand
  //   ahead    seqs received live above the cursor
  //   gapAt    when the oldest gap appeared (0: none)
  //   acked    last received cursor acknowledged to the server
  //   pending  live messages since the last acknowledgement
  //   dirty    when cursor first moved past acked (0: it did not)
  conv(id) {
    let cs = this.convs.get(id);
    if (!cs) {
      cs = { known: false, cursor: 0, backlog: 0, ahead: new Set(), gapAt: 0, acked: 0, pending: 0, dirty: 0, ring: newRing() };
      this.convs.set(id, cs);
    }
    return cs;
  }

  onOfflineFrame(f) {
    if (f.convMessage) this.applyLive(toConvMessage(f.convMessage));
    else if (f.convPage) this.applyPage(toPage(f.convPage));
    else if (f.allPage) for (const p of f.allPage.pages ?? []) this.applyPage(toPage(p));
    else if (f.counters) this.applyCounters(toCounters(f.counters));
    else if (f.receipt) this.emit("receipt", { conv: f.receipt.conv, user: f.receipt.user ?? "", read: num(f.receipt.read) });
  }

  // applyCounters takes the server's received cursors as the truth: a page
  // that was delivered but never acknowledged (the app crashed, or the
  // connection broke before the next pull) is pulled again, and deduped.
  applyCounters(ct) {
    if (ct.ackEvery > 0) this.serverAckEvery = ct.ackEvery;
    if (ct.ackIntervalMs > 0) this.serverAckIntervalMs = ct.ackIntervalMs;
    for (const sum of ct.convs) {
      const cs = this.conv(sum.conv);
      cs.known = true;
      cs.cursor = cs.acked = sum.received;
      cs.backlog = sum.maxSeq;
      cs.ahead.clear();
      cs.gapAt = cs.pending = cs.dirty = 0;
    }
    this.emit("counters", ct);
  }

  // fresh dedupes m (by msgId, then the app's seen).
  fresh(cs, m) {
    if (m.tombstone) {
      this.offSt.tombstones++;
      return false;
    }
    const seen = this.opt.offline.seen;
    if (remember(cs.ring, m.msgId, this.opt.dedupeWindow) || (seen && seen(m.conv, m.msgId))) {
      this.offSt.duplicates++;
      return false;
    }
    return true;
  }

  deliver(conv, msgs) {
    this.offSt.messages += msgs.length;
    for (const m of msgs) this.emit("convMessage", conv, m);
  }

  applyPage(p) {
    const cs = this.conv(p.conv);
    const out = p.messages.filter((m) => this.fresh(cs, m));
    if (!cs.known || p.nextCursor > cs.cursor) {
      cs.known = true;
      cs.cursor = Math.max(cs.cursor, p.nextCursor);
      for (const seq of cs.ahead) if (seq <= cs.cursor) cs.ahead.delete(seq);
      advance(cs);
    }
    this.deliver(p.conv, out);
  }

  // applyLive takes a live push: dedupe, cursor, batched acknowledgement.
  // For a conversation the client has no cursor for yet, the messages are
  // handed over (deduped by msgId) and kept "ahead" until the offline tick
  // has asked the server for the received cursor.
  applyLive(m) {
    const cs = this.conv(m.conv);
    const old = cs.known && m.seq <= cs.cursor;
    const ok = !old && this.fresh(cs, m);
    if (old) {
      this.offSt.duplicates++;
    } else {
      cs.ahead.add(m.seq);
      if (cs.known) {
        advance(cs);
        markDirty(cs);
      }
    }
    let ack = null;
    if (ok && cs.known) {
      cs.pending++;
      if (cs.pending >= this.ackEvery() && cs.cursor > cs.acked) ack = ackFrame(cs, m.conv);
    }
    if (ok) this.deliver(m.conv, [m]);
    if (ack) this.sendAck(ack);
  }

  // learn sets the cursor of a conversation first met live from the
  // server's received cursor.
  async learn(conv) {
    let sum;
    try {
      sum = await this.getConv(conv);
    } catch {
      return;
    }
    const cs = this.conv(conv);
    if (cs.known) return;
    cs.known = true;
    cs.cursor = cs.acked = cs.backlog = sum.received;
    for (const seq of cs.ahead) if (seq <= cs.cursor) cs.ahead.delete(seq);
    advance(cs);
    markDirty(cs);
  }

  sendAck(a) {
    this.offSt.acks++;
    // id 0: fire and forget. A CURSOR_BACKWARDS answer only means another
    // device acknowledged further.
    if (this.ws) this.write({ ack: a });
  }

  ackEvery() {
    return this.opt.offline.ackEvery || this.serverAckEvery || 20;
  }

  ackIntervalMs() {
    return this.opt.offline.ackIntervalMs || this.serverAckIntervalMs || 1000;
  }

  // offlineTick runs on a timer per session: it sends acknowledgements
  // that waited ackIntervalMs, asks for the cursors of conversations met
  // live and pulls gaps older than gapTimeoutMs. One tick at a time.
  async offlineTick() {
    if (this.offBusy || !this.ws) return;
    this.offBusy = true;
    try {
      const now = Date.now();
      const interval = this.ackIntervalMs();
      const gapTimeout = this.opt.offline.gapTimeoutMs || 1000;
      const acks = [], gaps = [], unknown = [];
      for (const [id, cs] of this.convs) {
        if (!cs.known) {
          if (cs.ahead.size > 0) unknown.push(id);
          continue;
        }
        if (cs.dirty && now - cs.dirty >= interval) acks.push(ackFrame(cs, id));
        if (cs.gapAt && now - cs.gapAt >= gapTimeout) {
          gaps.push(id);
          cs.gapAt = now; // once per timeout
        }
      }
      for (const a of acks) this.sendAck(a);
      for (const id of unknown) await this.learn(id);
      for (const id of gaps) {
        this.offSt.gapPulls++;
        try {
          await this.pullConv(id);
        } catch {
          // the next timeout tries again
        }
        // What the pull brought is acknowledged by the next round.
        markDirty(this.conv(id));
      }
    } finally {
      this.offBusy = false;
    }
  }

  /** The offline counters. */
  offlineStats() {
    return { ...this.offSt };
  }

  /** The seq up to which the client has received conv, or null when it does not know. */
  convCursor(conv) {
    const cs = this.convs.get(conv);
    return cs && cs.known ? cs.cursor : null;
  }

  // sendOffline is sendOnce for a 1:1 or group message.
  async sendOffline(frame, opts) {
    const f = await this.sendOnce(frame, opts);
    return toConvSent(f.convSent);
  }

  // sendOnce sends frame(clientMsgId) until the server answers or
  // timeoutMs passes, resending with the same client_msg_id after a
  // disconnect or an UNAVAILABLE/STORE_UNAVAILABLE refusal (never sooner
  // than its retryAfterMs): the server accepts the message once.
  async sendOnce(frame, { clientMsgId = "", timeoutMs = this.opt.requestTimeoutMs } = {}) {
    const cmid = clientMsgId || newClientMsgId();
    const deadline = Date.now() + timeoutMs;
    let backoff = this.opt.backoffMinMs;
    for (;;) {
      try {
        return await this.request(frame(cmid), { timeoutMs: Math.max(deadline - Date.now(), 1) });
      } catch (e) {
        const wait = Math.max(backoff, retryAfterMs(e)); // never sooner than the server asked
        if (!retryable(e) || !this.opt.reconnect || deadline - Date.now() <= wait) throw e;
        await sleep(wait);
        backoff = Math.min(backoff * 2, this.opt.backoffMaxMs);
      }
    }
  }

  /** Sends a 1:1 message; resolves once the server stored it. */
  sendDirect(to, body, { kind = "", clientMsgId = "", timeoutMs } = {}) {
    return this.sendOffline((cmid) => ({ sendDirect: { to, body, kind, clientMsgId: cmid } }), { clientMsgId, timeoutMs });
  }

  /** Sends a message to a group the user is in. */
  sendGroup(group, body, { kind = "", clientMsgId = "", timeoutMs } = {}) {
    return this.sendOffline((cmid) => ({ sendGroup: { group, body, kind, clientMsgId: cmid } }), { clientMsgId, timeoutMs });
  }

  /** A page of the conversations with unread messages (the first is pushed
   * at login; cursor is the previous page's nextCursor). "counters" sees it too. */
  async counters(cursor = "", limit = 0) {
    const f = await this.request({ listCounters: { cursor, limit } });
    return toCounters(f.counters);
  }

  /** Pages through all conversations, most recent first. */
  async listConvs(cursor = "", limit = 0) {
    const f = await this.request({ listConvs: { cursor, limit } });
    return toConvList(f.convList);
  }

  /** Summarises one conversation (cursors, the peer's read cursor). */
  async getConv(conv) {
    const f = await this.request({ getConv: { conv } });
    return toSummary(f.convList.convs[0]);
  }

  /** Pulls the next page of conv after the client's cursor (which
   * acknowledges everything up to it), emits new entries and moves the
   * cursor. A conversation the client knows nothing of starts from the
   * server's received cursor. */
  async pullConv(conv) {
    let after = this.convCursor(conv);
    if (after === null) after = (await this.getConv(conv)).received;
    return this.pullConvAfter(conv, after, 0);
  }

  /** Pulls one page after a given cursor (limit 0: the server's default). */
  async pullConvAfter(conv, after, limit = 0) {
    const f = await this.request({ pullConv: { conv, after, limit } });
    return toPage(f.convPage);
  }

  /** Pulls conv page by page until the server has no more, then sends the
   * final pull that acknowledges the last page. Resolves with the number of
   * entries pulled (before dedupe). */
  async syncConv(conv) {
    let n = 0;
    for (let p = await this.pullConv(conv); ; p = await this.pullConvAfter(conv, p.nextCursor, 0)) {
      n += p.messages.length;
      if (p.noMore && p.messages.length === 0) return n; // the final, acknowledging page
    }
  }

  /** Pulls every conversation with entries the user has not received,
   * until the server has no more; each request acknowledges the previous
   * answer. Resolves with the number of entries pulled. */
  async pullAll(limit = 0) {
    let n = 0;
    let acks = [];
    for (;;) {
      const f = await this.request({ pullAll: { acks, limit } });
      const page = f.allPage ?? {};
      acks = [];
      for (const p of page.pages ?? []) {
        n += (p.messages ?? []).length;
        acks.push({ conv: p.conv, seq: num(p.nextCursor) });
      }
      if (page.noMore && acks.length === 0) return n;
    }
  }

  /** Moves the read cursor of conv to seq (and received with it); the
   * other user of a 1:1 conversation gets a receipt. */
  markRead(conv, seq) {
    return this.ack(conv, 0, seq);
  }

  /** Moves the received and read cursors explicitly (0: leave as is). */
  async ack(conv, received = 0, read = 0) {
    const f = await this.request({ ack: { conv, received, read } });
    return toAcked(f.acked);
  }

  /** Pages conv backwards from before (0: the newest), for roaming.
   * Entries are returned, not emitted. */
  async history(conv, before = 0, limit = 0) {
    const f = await this.request({ history: { conv, before, limit } });
    const h = f.historyPage;
    return {
      conv: h.conv,
      messages: (h.messages ?? []).map((m) => toConvMessage(m, h.conv)),
      nextBefore: num(h.nextBefore),
      noMore: !!h.noMore,
    };
  }

  /** Withdraws one of the user's messages. */
  async recall(conv, seq) {
    const f = await this.request({ recall: { conv, seq } });
    const r = f.recalled;
    return { conv: r.conv, seq: num(r.seq), recallSeq: num(r.recallSeq) };
  }

  /** Makes a group with the user and members in it (group "": the server
   * names it). Members may be given as arguments or as an array. */
  async createGroup(group, name, ...members) {
    const f = await this.request({ createGroup: { group, name, members: members.flat() } });
    return toGroupInfo(f.groupInfo);
  }

  /** Joins a group. */
  async joinGroup(group) {
    return toGroupInfo((await this.request({ joinGroup: { group } })).groupInfo);
  }

  /** Leaves a group. */
  async leaveGroup(group) {
    return toGroupInfo((await this.request({ leaveGroup: { group } })).groupInfo);
  }

  /** Pages through a group's members with their cursors. */
  async members(group, cursor = "", limit = 0) {
    const l = (await this.request({ listMembers: { group, cursor, limit } })).memberList;
    return {
      group: l.group,
      members: (l.members ?? []).map((m) => ({ user: m.user, received: num(m.received), read: num(m.read), since: num(m.since) })),
      nextCursor: l.nextCursor ?? "",
      noMore: !!l.noMore,
    };
  }
}

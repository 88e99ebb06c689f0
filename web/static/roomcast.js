// roomcast.js — the JavaScript SDK for roomcast (one ES module, no build
// step). It speaks JSON text frames (docs/protocol.md) and does what the Go
// SDK (client/) does:
//
//   - connect with a token (or an async tokenFunc, called on every
//     (re)connect so tokens can be refreshed);
//   - join several rooms, send, leave, ping;
//   - the pull side of the protocol: on a Notify it takes the inline
//     messages and acknowledges when they bring it up to the heads, pulls
//     otherwise, and pulls again while the answer says `more`;
//   - dedupe by msgId and by per-lane seq, so each message reaches the
//     "message" listeners once, in seq order per lane;
//   - reconnect with exponential backoff and jitter, resuming every room
//     from its last seq (what the server no longer holds is reported as
//     "missed");
//   - ping when idle, every Connected.pingIntervalMs.
//
//   import { RoomcastClient } from "/sdk/roomcast.js";
//   const c = new RoomcastClient({ url: "ws://127.0.0.1:8080/ws", token });
//   c.on("message", (room, m) => console.log(room, m.from, m.body));
//   await c.connect();
//   await c.join("lobby");
//   await c.send("lobby", "hello");
//
// Events (c.on(name, fn) returns a function that removes fn):
//   message (room, msg)        msg = {seq, msgId, from, ts, body, kind, priority}
//   missed  (room, n)          n normal messages were evicted before we got them
//   kick    (room, reason)     removed from room ("" = the connection): NOT_PULLING, ADMIN, BANNED, ...
//   state   (connected, err)   true once (re)connected and every room rejoined
//   joined  (room, joined)     a Joined answer (fresh or resumed), with viewers
//   frame   (frame)            every frame received, before it is acted on
//
// Numbers: protojson writes 64-bit fields as strings. The SDK turns seq,
// pseq, ts, viewers and missed into Numbers (exact below 2^53) and keeps
// msgId a string (it uses all 64 bits).

const PULL_STALE_MS = 2000; // an unanswered pull blocks the next one this long

/** An Error frame answering a request; branch on `code`. */
export class RoomcastError extends Error {
  constructor(code, message, retryAfterMs = 0) {
    super(`roomcast: ${code}: ${message}`);
    this.name = "RoomcastError";
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

const num = (v) => (v === undefined || v === null ? 0 : Number(v));

/** Normalises a RoomMessage from protojson. */
function message(m) {
  return {
    seq: num(m.seq),
    msgId: String(m.msgId ?? "0"),
    from: m.from ?? "",
    ts: num(m.ts),
    body: m.body ?? "",
    kind: m.kind ?? "",
    priority: !!m.priority,
  };
}

export class RoomcastClient {
  /**
   * @param {object} opt
   * @param {string} opt.url            ws:// or wss:// URL of /ws
   * @param {string} [opt.token]        token, or:
   * @param {() => Promise<string>} [opt.tokenFunc]  called on every (re)connect
   * @param {number} [opt.pullLimit=0]  page size of pulls (0: the server's)
   * @param {boolean} [opt.reconnect=true]
   * @param {number} [opt.backoffMinMs=100]
   * @param {number} [opt.backoffMaxMs=10000]
   * @param {number} [opt.requestTimeoutMs=10000]
   * @param {number} [opt.dedupeWindow=4096]  msgIds remembered per room
   * @param {typeof WebSocket} [opt.WebSocket] implementation (default: the global)
   */
  constructor(opt) {
    if (!opt || !opt.url) throw new Error("roomcast: url is required");
    this.opt = {
      pullLimit: 0,
      reconnect: true,
      backoffMinMs: 100,
      backoffMaxMs: 10000,
      requestTimeoutMs: 10000,
      dedupeWindow: 4096,
      WebSocket: globalThis.WebSocket,
      ...opt,
    };
    this.rooms = new Map(); // name -> {seq, pseq, seen:Set, order:[], next, joined, resume, pullingAt}
    this.listeners = new Map();
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.nextId = 0;
    this.ws = null;
    this.connected = false;
    this.closed = false;
    this.waiters = []; // resolved when connected
    this.pingTimer = null;
    this.reconnecting = false;
    this.lastSend = 0;
    this.pingIntervalMs = 25000;
    this.user = "";
    this.counters = { notifies: 0, pulls: 0, acks: 0, messages: 0, duplicates: 0, missed: 0, reconnects: 0, framesIn: 0 };
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
    return { ...this.counters };
  }

  /** The client's last seqs in a room, or null when not joined. */
  cursors(room) {
    const r = this.rooms.get(room);
    return r ? { seq: r.seq, pseq: r.pseq } : null;
  }

  /** Connects and authenticates; resolves with the Connected frame. */
  async connect() {
    if (this.closed) throw new Error("roomcast: closed");
    const connected = await this.open();
    this.setConnected(true, null);
    return connected;
  }

  /** Ends the connection for good and stops reconnecting. */
  close() {
    this.closed = true;
    this.stopPing();
    if (this.ws) this.ws.close(1000, "client");
    this.failPending(new Error("roomcast: closed"));
    for (const w of this.waiters) w.reject(new Error("roomcast: closed"));
    this.waiters = [];
  }

  async token() {
    return this.opt.tokenFunc ? await this.opt.tokenFunc() : this.opt.token;
  }

  // open dials one WebSocket, sends Connect and resolves on Connected.
  async open() {
    const token = await this.token();
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this.opt.WebSocket(this.opt.url);
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
      ws.onopen = () => {
        ws.send(JSON.stringify({ id: 1, connect: { token, client: "roomcast-js/1" } }));
        this.lastSend = Date.now();
      };
      ws.onmessage = (ev) => {
        let f;
        try {
          f = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (!settled) {
          if (f.error) {
            settled = true;
            clearTimeout(timer);
            ws.close();
            reject(new RoomcastError(f.error.code, f.error.message ?? ""));
          } else if (f.connected) {
            settled = true;
            clearTimeout(timer);
            this.ws = ws;
            this.user = f.connected.user;
            this.pingIntervalMs = num(f.connected.pingIntervalMs) || 25000;
            this.startPing();
            resolve(f.connected);
          }
          return;
        }
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
    this.stopPing();
    const err = new Error(`roomcast: disconnected (${ev.code}${ev.reason ? " " + ev.reason : ""})`);
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
    while (!this.closed) {
      const d = backoff / 2 + Math.random() * (backoff / 2); // jitter
      await new Promise((r) => setTimeout(r, d));
      if (this.closed) return;
      try {
        await this.open();
        await this.resume();
        this.counters.reconnects++;
        this.setConnected(true, null);
        return;
      } catch (e) {
        if (this.ws) {
          const ws = this.ws;
          this.ws = null; // not "lost": this loop goes on
          ws.close();
        }
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
        await this.request({ join: { room: r.name, resume: true, afterSeq: r.seq, afterPseq: r.pseq } }, true);
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
  ready() {
    if (this.connected && this.ws) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error("roomcast: closed"));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          reject(new Error("roomcast: not connected"));
        }
      }, this.opt.requestTimeoutMs);
    });
  }

  write(frame) {
    this.ws.send(JSON.stringify(frame));
    this.lastSend = Date.now();
  }

  // request sends an operation and resolves with the frame answering it.
  // During a resume the session is up but not yet "connected".
  async request(body, duringResume = false) {
    if (!duringResume) await this.ready();
    if (!this.ws) throw new Error("roomcast: not connected");
    this.nextId = (this.nextId % 0xfffffffe) + 1;
    const id = this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("roomcast: request timed out"));
      }, this.opt.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.write({ id, ...body });
    });
  }

  startPing() {
    this.stopPing();
    const every = Math.max(this.pingIntervalMs / 4, 10);
    this.pingTimer = setInterval(() => {
      if (this.ws && Date.now() - this.lastSend >= this.pingIntervalMs) {
        this.write({ ping: {} });
      }
    }, every);
  }

  stopPing() {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** Joins a room; resolves with {room, seq, pseq, viewers}. */
  async join(room) {
    let r = this.rooms.get(room);
    if (!r) {
      r = { name: room, seq: 0, pseq: 0, seen: new Set(), order: [], next: 0, joined: false, resume: false, pullingAt: 0 };
      this.rooms.set(room, r);
    }
    r.resume = false;
    try {
      const f = await this.request({ join: { room } });
      const j = f.joined;
      return { room: j.room, seq: num(j.seq), pseq: num(j.pseq), viewers: num(j.viewers) };
    } catch (e) {
      if (!r.joined) this.rooms.delete(room);
      throw e;
    }
  }

  /** Leaves a room. */
  async leave(room) {
    this.rooms.delete(room);
    await this.request({ leave: { room } });
  }

  /** Posts to a joined room; resolves with {room, seq, msgId, priority}. */
  async send(room, body, { kind = "", priority = false } = {}) {
    const send = { room, body };
    if (kind) send.kind = kind;
    if (priority) send.priority = true;
    const f = await this.request({ send });
    const s = f.sent;
    return { room: s.room, seq: num(s.seq), msgId: String(s.msgId), priority: !!s.priority };
  }

  /** Measures a round trip in milliseconds. */
  async ping() {
    const start = performance.now();
    await this.request({ ping: {} });
    return performance.now() - start;
  }

  // handle acts on one frame of a live session, in arrival order.
  handle(f) {
    this.counters.framesIn++;
    this.emit("frame", f);
    if (f.joined) this.onJoined(f.joined);
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
    if (!r.resume || seq < r.seq) r.seq = seq;
    if (!r.resume || pseq < r.pseq) r.pseq = pseq;
    r.resume = false;
    this.emit("joined", j.room, { room: j.room, seq, pseq, viewers: num(j.viewers) });
  }

  onNotify(n) {
    this.counters.notifies++;
    const room = n.room;
    this.apply(room, n.messages, num(n.missed));
    const r = this.rooms.get(room);
    if (!r || !this.ws) return;
    const ack = r.seq >= num(n.seq) && r.pseq >= num(n.pseq);
    if (!ack && Date.now() - r.pullingAt < PULL_STALE_MS) return; // a pull is on its way
    if (!ack) r.pullingAt = Date.now();
    this.pull(r, ack);
  }

  pull(r, ack) {
    const p = { room: r.name, afterSeq: r.seq, afterPseq: r.pseq };
    if (this.opt.pullLimit) p.limit = this.opt.pullLimit;
    if (ack) p.ack = true;
    this.counters.pulls++;
    if (ack) this.counters.acks++;
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
    this.apply(res.room, res.messages, num(res.missed));
    const again = this.rooms.get(res.room);
    if (res.more && again && this.ws) {
      again.pullingAt = Date.now();
      this.pull(again, false);
    }
  }

  onKick(k) {
    const room = k.room ?? "";
    if (room) this.rooms.delete(room);
    this.emit("kick", room, k.reason ?? "UNSPECIFIED");
  }

  // apply moves the room's cursors over msgs and emits the new ones.
  apply(room, msgs, missed) {
    const r = this.rooms.get(room);
    if (!r) return;
    const fresh = [];
    for (const raw of msgs ?? []) {
      const m = message(raw);
      const lane = m.priority ? "pseq" : "seq";
      if (m.seq <= r[lane] || this.remember(r, m.msgId)) {
        this.counters.duplicates++;
        continue;
      }
      r[lane] = m.seq;
      fresh.push(m);
    }
    if (missed > 0) {
      this.counters.missed += missed;
      this.emit("missed", room, missed);
    }
    this.counters.messages += fresh.length;
    for (const m of fresh) this.emit("message", room, m);
  }

  // remember records id and reports whether it was already seen.
  remember(r, id) {
    if (r.seen.has(id)) return true;
    const w = this.opt.dedupeWindow;
    if (r.order.length < w) {
      r.order.push(id);
    } else {
      r.seen.delete(r.order[r.next]);
      r.order[r.next] = id;
      r.next = (r.next + 1) % w;
    }
    r.seen.add(id);
    return false;
  }
}

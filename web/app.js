// rivr's live view: the operations API's event stream rendered for a wall screen.
//
// One long `fetch` of GET /events (server-sent events read from the response body, so the
// request can carry `Authorization: Bearer <token>`; EventSource cannot). The first event is a
// snapshot of everything; later events upsert or remove one call, replace the scripts, add a
// script error or replace the counters. Nothing polls: ages tick client-side every second.
// When the stream drops, the page says so and reconnects with backoff; on 401 it asks for the
// token, keeps it in sessionStorage and retries. Server text is only ever set as text (never
// innerHTML).
(() => {
  "use strict";

  const TOKEN_KEY = "rivr.api.token";
  const MAX_ERRORS = 50;
  // A hang-up button armed by a first click disarms itself after this long.
  const ARM_MS = 5000;
  // A stream that delivers nothing (not even a keep-alive) for this long is presumed dead.
  const STALL_MS = 75000;
  // Reconnect delays, then the last one for ever (each with up to 20 % jitter).
  const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];

  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers (text only) ----

  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [name, value] of Object.entries(attrs)) {
        if (value === null || value === undefined || value === false) continue;
        if (name === "class") node.className = value;
        else node.setAttribute(name, String(value));
      }
    }
    for (const child of children) {
      if (child === null || child === undefined || child === "") continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function setText(node, text) {
    const value = text === null || text === undefined ? "" : String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  const str = (v) => (v === null || v === undefined ? "" : String(v));
  const shortId = (uuid) => str(uuid).slice(0, 8);
  const pad2 = (n) => String(n).padStart(2, "0");

  /** 7 → "0:07", 725 → "12:05", 3723 → "1:02:03". */
  function duration(seconds) {
    if (!Number.isFinite(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = s % 60;
    return h > 0 ? `${h}:${pad2(m)}:${pad2(rest)}` : `${m}:${pad2(rest)}`;
  }

  /** A rough "3 min ago" for times already past. */
  function ago(ms) {
    if (!Number.isFinite(ms)) return "";
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 10) return "just now";
    if (s < 60) return `${s} s ago`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ago`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min ago`;
    return `${Math.floor(h / 24)} days ago`;
  }

  /** Local wall-clock time of an RFC 3339 timestamp; the date too when it is not today. */
  function clockTime(rfc3339) {
    const t = Date.parse(rfc3339);
    if (!Number.isFinite(t)) return str(rfc3339);
    const d = new Date(t);
    const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return time;
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
  }

  /** `file:line:col`, leaving out a line or column the server does not know (0). */
  function position(e) {
    let text = str(e.file);
    if (Number(e.line) > 0) {
      text += `:${e.line}`;
      if (Number(e.column) > 0) text += `:${e.column}`;
    }
    return text;
  }

  /** The verb's detail without the verb repeated in front (`play: a.wav` → `a.wav`). */
  function detailOf(call) {
    const detail = str(call.verb_detail);
    const verb = str(call.verb);
    if (detail === verb) return "";
    if (verb && detail.startsWith(`${verb}: `)) return detail.slice(verb.length + 2);
    return detail;
  }

  // ---- State ----

  /** uuid → { data, row, cells, baseAge, receivedAt, verbOffset } */
  const calls = new Map();
  /** uuids ended on this stream (a late `call` for one of them is ignored) → when. */
  const ended = new Map();
  let errors = [];
  let scripts = [];
  /** The server's clock minus ours, from the calls' ages (for "live since … ago"). */
  let skewMs = 0;

  // ---- Connection state ----

  const conn = $("conn");
  function setConn(kind, text) {
    conn.className = `conn ${kind}`;
    setText(conn, text);
    document.body.classList.toggle("stale", kind !== "live");
  }

  // ---- Calls ----

  const rows = $("call-rows");

  function startedMs(entry) {
    const t = Date.parse(entry.data.started);
    return Number.isFinite(t) ? t : 0;
  }

  function placeRow(entry) {
    // Oldest call first: rows stay where they are while the incident unfolds. New calls are
    // usually the newest, so look from the end.
    const t = startedMs(entry);
    for (let other = rows.lastElementChild; other; other = other.previousElementSibling) {
      const o = calls.get(other.getAttribute("data-uuid"));
      if (!o || o === entry) continue;
      if (startedMs(o) < t || (startedMs(o) === t && o.data.uuid < entry.data.uuid)) {
        other.after(entry.row);
        return;
      }
    }
    rows.prepend(entry.row);
  }

  function newRow(uuid) {
    const cells = {
      uuid: el("td", { class: "uuid" }),
      caller: el("td", { class: "caller" }),
      destination: el("td", { class: "destination" }),
      route: el("td", { class: "route" }),
      script: el("td", { class: "script" }),
      verb: el("td", { class: "verb" }),
      verbAge: el("td", { class: "verb-age r" }),
      age: el("td", { class: "age r" }),
      action: el("td", { class: "action" }),
    };
    const button = el("button", { type: "button", class: "hangup" }, "Hang up");
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      hangupClicked(uuid, button);
    });
    cells.action.append(button);
    const row = el("tr", { "data-uuid": uuid }, ...Object.values(cells));
    return { row, cells, button };
  }

  function upsertCall(call, fromSnapshot) {
    if (!call || typeof call.uuid !== "string") return;
    if (!fromSnapshot && ended.has(call.uuid)) return;
    let entry = calls.get(call.uuid);
    const isNew = !entry;
    if (isNew) {
      entry = { data: call, ...newRow(call.uuid) };
      calls.set(call.uuid, entry);
      entry.row.classList.add("new");
      setTimeout(() => entry.row.classList.remove("new"), 1200);
    }
    const before = entry.data;
    entry.data = call;
    const started = Date.parse(call.started);
    const since = call.verb_since ? Date.parse(call.verb_since) : NaN;
    entry.receivedAt = performance.now();
    entry.baseAge = typeof call.age_s === "number" ? call.age_s : (Date.now() + skewMs - started) / 1000;
    entry.verbOffset = Number.isFinite(since) && Number.isFinite(started) ? (since - started) / 1000 : null;
    if (typeof call.age_s === "number" && Number.isFinite(started)) {
      skewMs = started + call.age_s * 1000 - Date.now();
    }

    const c = entry.cells;
    setText(c.uuid, shortId(call.uuid));
    c.uuid.title = str(call.uuid);
    setText(c.caller, call.caller);
    setText(c.destination, call.destination);
    setText(c.route, call.route);
    c.script.replaceChildren(
      el("span", { class: "script-name" }, str(call.script)),
      call.version !== null && call.version !== undefined && call.version !== ""
        ? el("span", { class: "at" }, "@", str(call.version))
        : null,
    );
    c.script.title = `${str(call.script)}@${str(call.version)}`;
    if (call.verb) {
      const detail = detailOf(call);
      c.verb.replaceChildren(
        el(
          "div",
          { class: "verb-box" },
          el("span", { class: "verb-name" }, str(call.verb)),
          detail ? el("span", { class: "verb-detail" }, detail) : null,
        ),
      );
      c.verb.title = str(call.verb_detail || call.verb);
    } else {
      c.verb.replaceChildren(el("span", { class: "verb-none" }, "—"));
      c.verb.title = "";
    }
    if (isNew || before.started !== call.started) placeRow(entry);
    if (!isNew && (before.verb !== call.verb || before.verb_since !== call.verb_since)) {
      // Restart the highlight so each change is seen.
      c.verb.classList.remove("changed");
      void c.verb.offsetWidth;
      c.verb.classList.add("changed");
    }
    tickCall(entry, performance.now());
  }

  function removeCall(uuid) {
    const entry = calls.get(uuid);
    if (!entry) return;
    calls.delete(uuid);
    const row = entry.row;
    // Gone for the page (and a test) at once; the row fades out for the eye.
    row.removeAttribute("data-uuid");
    row.setAttribute("data-ended-uuid", uuid);
    row.classList.add("gone");
    entry.button.disabled = true;
    setTimeout(() => row.remove(), 450);
  }

  function callsChanged() {
    const n = calls.size;
    $("no-calls").hidden = n > 0;
    $("calls").classList.toggle("is-empty", n === 0);
    setText($("calls-count"), n > 0 ? String(n) : "");
  }

  function tickCall(entry, now) {
    const age = entry.baseAge + (now - entry.receivedAt) / 1000;
    setText(entry.cells.age, duration(age));
    if (entry.data.verb && entry.verbOffset !== null) {
      const verbAge = Math.max(0, age - entry.verbOffset);
      setText(entry.cells.verbAge, duration(verbAge));
      entry.cells.verbAge.classList.toggle("long", verbAge >= 120);
    } else {
      setText(entry.cells.verbAge, "");
      entry.cells.verbAge.classList.remove("long");
    }
  }

  // ---- Hang-up (two clicks, no window.confirm) ----

  function disarm(button) {
    clearTimeout(button._disarm);
    if (button.dataset.state !== "armed") return;
    delete button.dataset.state;
    button.classList.remove("armed");
    setText(button, "Hang up");
  }

  function disarmAll(except) {
    for (const entry of calls.values()) if (entry.button !== except) disarm(entry.button);
  }

  async function hangupClicked(uuid, button) {
    if (button.dataset.state === "busy") return;
    if (button.dataset.state !== "armed") {
      disarmAll(button);
      button.dataset.state = "armed";
      button.classList.add("armed");
      setText(button, "Confirm hang-up");
      button._disarm = setTimeout(() => disarm(button), ARM_MS);
      return;
    }
    clearTimeout(button._disarm);
    button.dataset.state = "busy";
    button.classList.remove("armed");
    button.disabled = true;
    setText(button, "Hanging up…");
    let answer;
    try {
      answer = await request("DELETE", `/calls/${encodeURIComponent(uuid)}`);
    } catch (e) {
      answer = { status: 0, body: null };
    }
    if (answer.status === 202) {
      // The stream's call_ended removes the row.
      const entry = calls.get(uuid);
      if (entry) entry.row.classList.add("ending");
      setTimeout(() => {
        // Still listed long after rivr accepted the hang-up: let the operator try again.
        if (calls.get(uuid) !== entry || !entry) return;
        entry.row.classList.remove("ending");
        delete button.dataset.state;
        button.disabled = false;
        setText(button, "Hang up");
        toast(`Call ${shortId(uuid)} is still up after the hang-up.`);
      }, 15000);
      return;
    }
    if (answer.status === 404) {
      toast(`Call ${shortId(uuid)} had already ended.`);
      ended.set(uuid, Date.now());
      removeCall(uuid);
      callsChanged();
      return;
    }
    delete button.dataset.state;
    button.disabled = false;
    setText(button, "Hang up");
    if (answer.status === 401) {
      askForToken("The API needs a token to hang up calls.");
      return;
    }
    const why = answer.body && answer.body.error ? answer.body.error : answer.status ? `HTTP ${answer.status}` : "rivr is unreachable";
    toast(`Could not hang up ${shortId(uuid)}: ${why}`);
  }

  document.addEventListener("click", () => disarmAll(null));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") disarmAll(null);
  });

  // ---- Script errors ----

  function renderErrors() {
    const list = $("errors");
    list.replaceChildren(
      ...errors.map((e) =>
        el(
          "li",
          { class: "error" },
          el(
            "div",
            { class: "error-head" },
            el("span", { class: "error-at" }, clockTime(e.at)),
            el("span", { class: "error-where" }, position(e)),
            e.uuid ? el("span", { class: "error-call", title: str(e.uuid) }, "call ", shortId(e.uuid)) : null,
          ),
          el("div", { class: "error-msg" }, str(e.message)),
        ),
      ),
    );
    $("no-errors").hidden = errors.length > 0;
    setText($("errors-count"), errors.length > 0 ? String(errors.length) : "");
  }

  function byNewest(a, b) {
    return (Date.parse(b.at) || 0) - (Date.parse(a.at) || 0);
  }

  // ---- Scripts ----

  function renderScripts() {
    const list = $("scripts");
    const sorted = [...scripts].sort((a, b) => {
      // Broken scripts first, then by name.
      if (!!a.error !== !!b.error) return a.error ? -1 : 1;
      return str(a.name).localeCompare(str(b.name));
    });
    list.replaceChildren(
      ...sorted.map((s) => {
        const since = el("span", { class: "script-since" });
        if (s.loaded_at) since.dataset.loadedAt = s.loaded_at;
        const item = el(
          "li",
          { class: s.error ? "script-item broken" : "script-item" },
          el(
            "div",
            { class: "script-head" },
            el("span", { class: "script-name" }, str(s.name)),
            s.version !== null && s.version !== undefined && s.version !== ""
              ? el("span", { class: "at" }, "@", str(s.version))
              : null,
            since,
          ),
          s.error
            ? el(
                "div",
                { class: "script-error" },
                el("span", { class: "error-where" }, position(s.error)),
                " ",
                el("span", { class: "error-msg" }, str(s.error.message)),
              )
            : null,
        );
        return item;
      }),
    );
    tickScripts();
    $("no-scripts").hidden = scripts.length > 0;
    const broken = scripts.filter((s) => s.error).length;
    setText($("scripts-count"), scripts.length ? (broken ? `${scripts.length} · ${broken} broken` : String(scripts.length)) : "");
  }

  function tickScripts() {
    const now = Date.now() + skewMs;
    for (const since of $("scripts").querySelectorAll(".script-since")) {
      const at = since.dataset.loadedAt;
      if (!at) {
        setText(since, "not loaded");
        continue;
      }
      setText(since, `live since ${clockTime(at)} · ${ago(now - Date.parse(at))}`);
    }
  }

  // ---- Counters ----

  function num(v) {
    return typeof v === "number" && Number.isFinite(v) ? v : 0;
  }

  function renderCounters(c) {
    if (!c) return;
    const rejected = num(c.rejected_busy) + num(c.rejected_no_route);
    setText($("active"), num(c.active).toLocaleString("en-US"));
    setText($("total"), num(c.total).toLocaleString("en-US"));
    setText($("completed"), num(c.completed).toLocaleString("en-US"));
    setText($("failed"), num(c.failed).toLocaleString("en-US"));
    setText($("rejected"), rejected.toLocaleString("en-US"));
    setText(
      $("rejected-split"),
      rejected > 0 ? `${num(c.rejected_busy)} busy · ${num(c.rejected_no_route)} no route` : "",
    );
    $("failed").parentElement.classList.toggle("bad", num(c.failed) > 0);
    $("rejected").parentElement.classList.toggle("warn", rejected > 0);
    const draining = c.draining === true;
    setText($("draining"), draining ? "YES" : "no");
    $("draining").parentElement.classList.toggle("warn", draining);
    $("draining").parentElement.classList.toggle("off", !draining);
    $("draining-banner").hidden = !draining;
    document.title = `${num(c.active)} active · rivr live`;
  }

  // ---- Events ----

  function onEvent(name, text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (e) {
      console.warn("rivr live view: an event that is not JSON", name, text);
      return;
    }
    switch (name) {
      case "snapshot": {
        ended.clear();
        const live = new Set();
        for (const call of Array.isArray(data.calls) ? data.calls : []) {
          if (call && typeof call.uuid === "string") live.add(call.uuid);
        }
        for (const uuid of [...calls.keys()]) if (!live.has(uuid)) removeCall(uuid);
        for (const call of Array.isArray(data.calls) ? data.calls : []) upsertCall(call, true);
        callsChanged();
        scripts = Array.isArray(data.scripts) ? data.scripts : [];
        renderScripts();
        errors = (Array.isArray(data.errors) ? [...data.errors] : []).sort(byNewest).slice(0, MAX_ERRORS);
        renderErrors();
        renderCounters(data.counters);
        attempt = 0;
        setConn("live", "● live");
        break;
      }
      case "call":
        upsertCall(data, false);
        callsChanged();
        break;
      case "call_ended":
        if (data && typeof data.uuid === "string") {
          ended.set(data.uuid, Date.now());
          removeCall(data.uuid);
          callsChanged();
        }
        break;
      case "scripts":
        scripts = Array.isArray(data.scripts) ? data.scripts : [];
        renderScripts();
        break;
      case "script_error":
        errors.unshift(data);
        errors.length = Math.min(errors.length, MAX_ERRORS);
        renderErrors();
        break;
      case "counters":
        renderCounters(data);
        break;
      default:
        // An event this page does not know yet: newer server, older page.
        break;
    }
  }

  /** A server-sent-events parser fed with text chunks; calls dispatch(event, data). */
  function eventParser(dispatch) {
    let buffer = "";
    let event = "";
    let data = [];
    let first = true;
    function line(text) {
      if (text === "") {
        if (data.length > 0) dispatch(event || "message", data.join("\n"));
        event = "";
        data = [];
        return;
      }
      if (text[0] === ":") return; // a comment: keep-alive
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    return (chunk) => {
      buffer += chunk;
      if (first && buffer.length > 0) {
        if (buffer[0] === "\uFEFF") buffer = buffer.slice(1);
        first = false;
      }
      let end;
      while ((end = buffer.search(/[\r\n]/)) >= 0) {
        // A CR at the very end may be half of a CRLF split across chunks.
        if (buffer[end] === "\r" && end === buffer.length - 1) break;
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer[end] === "\r" && buffer[end + 1] === "\n" ? 2 : 1));
        line(text);
      }
    };
  }

  // ---- The stream ----

  let controller = null;
  let generation = 0;
  let attempt = 0;
  let retryTimer = null;
  let countdownTimer = null;
  let stallTimer = null;

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function headers(accept) {
    const h = { Accept: accept };
    const t = token();
    if (t) h.Authorization = `Bearer ${t}`;
    return h;
  }

  async function request(method, path) {
    const response = await fetch(path, { method, headers: headers("application/json"), cache: "no-store" });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    return { status: response.status, body };
  }

  function clearTimers() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    clearTimeout(stallTimer);
    retryTimer = countdownTimer = stallTimer = null;
  }

  async function connect() {
    clearTimers();
    if (controller) controller.abort();
    const mine = ++generation;
    const abort = new AbortController();
    controller = abort;
    setConn("connecting", attempt > 0 ? "reconnecting…" : "connecting…");
    const watch = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => abort.abort(), STALL_MS);
    };
    let response;
    try {
      watch();
      response = await fetch("/events", {
        headers: headers("text/event-stream"),
        cache: "no-store",
        signal: abort.signal,
      });
    } catch (e) {
      if (mine === generation) dropped();
      return;
    }
    if (mine !== generation) return;
    if (response.status === 401) {
      abort.abort();
      clearTimers();
      askForToken(token() ? "That token was refused." : "");
      return;
    }
    if (!response.ok || !response.body) {
      abort.abort();
      dropped(`HTTP ${response.status}`);
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const feed = eventParser(onEvent);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || mine !== generation) break;
        watch();
        feed(decoder.decode(value, { stream: true }));
      }
    } catch (e) {
      // Aborted, or the connection broke.
    }
    if (mine === generation) dropped();
  }

  function dropped(why) {
    clearTimers();
    const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] * (1 + Math.random() * 0.2);
    attempt += 1;
    const due = performance.now() + delay;
    const show = () => {
      const left = Math.max(1, Math.ceil((due - performance.now()) / 1000));
      setConn("down", `disconnected — reconnecting in ${left} s${why ? ` (${why})` : ""}`);
    };
    show();
    countdownTimer = setInterval(show, 250);
    retryTimer = setTimeout(connect, delay);
  }

  // ---- Token ----

  const tokenForm = $("token-form");
  const tokenInput = $("token-input");

  function askForToken(note) {
    setConn("auth", "token required");
    setText($("token-note"), note || "");
    tokenForm.hidden = false;
    tokenInput.focus();
  }

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = tokenInput.value.trim();
    if (!value) return;
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch (e) {
      // Private mode without storage: the token is lost on reload.
    }
    tokenInput.value = "";
    tokenForm.hidden = true;
    attempt = 0;
    connect();
  });

  // ---- Toast ----

  let toastTimer = null;
  function toast(message) {
    const box = $("toast");
    setText(box, message);
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      box.hidden = true;
    }, 5000);
  }

  // ---- The clock ----

  function tick() {
    const now = performance.now();
    for (const entry of calls.values()) tickCall(entry, now);
    const d = new Date();
    setText($("clock"), `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`);
    for (const [uuid, at] of ended) if (Date.now() - at > 60000) ended.delete(uuid);
  }

  setInterval(() => {
    tick();
    tickScripts();
  }, 1000);

  tick();
  callsChanged();
  renderErrors();
  renderScripts();
  connect();
})();

/*
 * 大安区便民服务小助手 — web chat widget.
 *
 * Embed:  <div id="daan-chat"></div>
 *         <script src="http(s)://<rasa-server>/webhooks/socketio/widget.js" defer></script>
 *
 * Plain JS, no build step. Talks to Rasa's socket.io channel (connectors/webchat.py)
 * through the vendored socket.io-client, loaded from the same server as this file.
 * The server issues the session and a signed token for it; the token and the
 * conversation shown live in the page's localStorage, so a reload or a reconnect
 * continues the same conversation and shows what was said. ID and mobile numbers are
 * masked in what is stored.
 */
(() => {
  "use strict";

  // Replaced by the server with its channel settings (socket path, event names).
  const SERVER = __DAAN_CHAT_SERVER_CONFIG__;
  const BASE = new URL(".", document.currentScript.src);
  const STORE_PREFIX = "daan-chat:";
  const HISTORY_LIMIT = 100;
  const REPLY_WAIT_MS = 20000;
  const CLIENT_RETRY_MS = 10000;
  // Sent, not shown, when a conversation starts empty: the bot answers with its own
  // welcome and menu (utter_greet, which staff edit), so none of it is copied here.
  const GREETING = "你好";
  // Room kept above a message scrolled to the top, and below the input (px).
  const SCROLL_MARGIN = 8;
  const SIZES = [
    ["standard", "标准"],
    ["large", "大"],
    ["xlarge", "特大"],
  ];
  const STATES = {
    connecting: "正在连接…",
    online: "已连接，请直接提问",
    offline: "已断开，正在重连…",
  };
  const NOT_SENT = "没有发出去：现在断网了。连上后，请再点「发送」。";

  // localStorage can be disabled or full; the chat must still work, just without memory.
  const store = {
    get(key, fallback) {
      try {
        const value = localStorage.getItem(STORE_PREFIX + key);
        return value === null ? fallback : JSON.parse(value);
      } catch {
        return fallback;
      }
    },
    set(key, value) {
      try {
        localStorage.setItem(STORE_PREFIX + key, JSON.stringify(value));
      } catch {
        /* keep working without persistence */
      }
    },
    remove(key) {
      try {
        localStorage.removeItem(STORE_PREFIX + key);
      } catch {
        /* nothing stored, nothing to remove */
      }
    },
  };

  // Numbers as residents type them: half- or full-width digits, maybe a leading + and a
  // final X (the ID check character). First whole runs of digits, then runs with single
  // spaces or dashes between groups (138 1234 5678), so two numbers side by side are
  // still masked one by one. The character before a run is matched and kept, rather
  // than looked behind at, which older Safari cannot do.
  const DIGIT_RUNS = [
    /(^|[^0-9０-９+＋])([+＋]?[0-9０-９]+[XxＸｘ]?)(?![0-9０-９])/g,
    /(^|[^0-9０-９+＋])([+＋]?[0-9０-９](?:[ 　\-－—]?[0-9０-９])*(?:[ 　\-－—]?[XxＸｘ])?)(?![0-9０-９])/g,
  ];

  // 18-character (and old 15-digit) ID numbers → 5103**********1234, mainland mobile
  // numbers (also with +86) → 138****5678; other numbers are left as they are.
  function maskNumber(run) {
    const plain = run.normalize("NFKC").replace(/[^0-9Xx+]/g, "").toUpperCase();
    if (/^(?:\d{17}[\dX]|\d{15})$/.test(plain)) {
      return plain.slice(0, 4) + "*".repeat(plain.length - 8) + plain.slice(-4);
    }
    const mobile = /^(?:\+?86)?(1[3-9]\d{9})$/.exec(plain);
    if (mobile) return mobile[1].slice(0, 3) + "****" + mobile[1].slice(-4);
    return run;
  }

  function mask(text) {
    if (typeof text !== "string") return text;
    return DIGIT_RUNS.reduce(
      (result, pattern) => result.replace(pattern, (_, before, run) => before + maskNumber(run)),
      text
    );
  }

  // What is kept in localStorage: the entry with its personal numbers masked.
  function masked(entry) {
    const copy = { from: entry.from, text: mask(entry.text) };
    if (Array.isArray(entry.buttons) && entry.buttons.length) {
      copy.buttons = entry.buttons.map(({ title, payload }) => ({
        title: mask(title),
        payload: mask(payload),
      }));
    }
    return copy;
  }

  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    // textContent, never innerHTML: bot and resident text is shown as plain text.
    if (text) node.textContent = text;
    return node;
  }

  function loadStylesheet(onload) {
    const link = el("link", { rel: "stylesheet", href: new URL("widget.css", BASE) });
    link.onload = onload;
    document.head.appendChild(link);
  }

  function loadScript(url) {
    return new Promise((resolve, reject) => {
      const script = el("script", { src: url });
      script.onload = resolve;
      script.onerror = () => {
        script.remove();
        reject();
      };
      document.head.appendChild(script);
    });
  }

  // Phones and tablets: focusing the input there opens the on-screen keyboard, which
  // would cover half of the answer the resident is about to read.
  function touchScreen() {
    return window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
  }

  function viewportHeight() {
    const visual = window.visualViewport ? window.visualViewport.height : Infinity;
    return Math.min(document.documentElement.clientHeight || window.innerHeight, visual);
  }

  // What scrolls the widget on the page: usually the page itself (null), but some pages
  // scroll their content in a box of their own.
  function pageScroller(node) {
    for (let box = node.parentElement; box; box = box.parentElement) {
      if (box === document.body || box === document.documentElement) return null;
      const overflow = getComputedStyle(box).overflowY;
      if ((overflow === "auto" || overflow === "scroll") && box.scrollHeight > box.clientHeight) {
        return box;
      }
    }
    return null;
  }

  class Chat {
    constructor(root) {
      // Entries stored by earlier versions were not masked: mask them now.
      this.history = store.get("history", []).map(masked);
      if (this.history.length) store.set("history", this.history);
      // The server's session id (to tell a new session from the stored one) and the
      // token that rejoins it; the id alone proves nothing to the server.
      this.sessionId = store.get("session", null);
      this.token = store.get("token", null);
      this.socket = null;
      this.online = false;
      this.styled = false;
      this.greeted = false; // the hidden greeting went out on this page
      this.opening = true; // the first view: bring the input on screen
      this.replyTimer = null;
      this.replyStart = null; // the first message of the reply being received
      this.build(root);
      this.setSize(store.get("size", "standard"));
      this.setState("connecting");
      this.history.forEach((entry, i) => this.render(entry, i === this.history.length - 1));
    }

    build(root) {
      this.root = el("section", { class: "daan-chat", "aria-label": "大安区便民服务小助手" });

      const header = el("div", { class: "daan-chat__header" });
      header.appendChild(el("h2", { class: "daan-chat__title" }, "大安区便民服务小助手"));
      const sizes = el("div", { class: "daan-chat__sizes", role: "group", "aria-label": "文字大小" });
      sizes.appendChild(el("span", { class: "daan-chat__sizes-label" }, "文字大小"));
      this.sizeButtons = SIZES.map(([size, label]) => {
        const button = el("button", { type: "button", "data-size": size }, label);
        button.addEventListener("click", () => this.setSize(size));
        sizes.appendChild(button);
        return button;
      });
      header.appendChild(sizes);

      this.status = el("p", { class: "daan-chat__status", role: "status" });
      this.log = el("div", {
        class: "daan-chat__log",
        role: "log",
        "aria-live": "polite",
        "aria-label": "对话记录",
        tabindex: "0",
      });
      // Put into the log (the live region) while a reply is awaited, so it is announced.
      this.typing = el("p", { class: "daan-chat__typing" }, "小助手正在回复…");

      this.form = el("form", { class: "daan-chat__form" });
      this.form.appendChild(
        el("label", { class: "daan-chat__label", for: "daan-chat-input" }, "在这里输入您的问题：")
      );
      const row = el("div", { class: "daan-chat__row" });
      this.input = el("input", {
        id: "daan-chat-input",
        class: "daan-chat__input",
        type: "text",
        maxlength: String(SERVER.maxChars),
        autocomplete: "off",
        enterkeyhint: "send",
        placeholder: "比如：低保材料",
        "aria-describedby": "daan-chat-notice",
      });
      this.sendButton = el("button", { type: "submit", class: "daan-chat__send" }, "发送");
      row.append(this.input, this.sendButton);
      this.notice = el("p", { id: "daan-chat-notice", class: "daan-chat__notice", role: "alert" });
      this.form.append(row, this.notice);
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = this.input.value.trim();
        if (!text) return this.input.focus();
        if (!this.send(text)) return; // offline: the text stays, with a notice
        this.input.value = "";
        // On a phone the keyboard closes so the answer gets the screen.
        if (touchScreen()) this.input.blur();
        else this.input.focus();
      });

      this.clearButton = el(
        "button",
        {
          type: "button",
          class: "daan-chat__clear",
          "aria-expanded": "false",
          "aria-controls": "daan-chat-confirm",
        },
        "清空对话记录"
      );
      this.clearButton.addEventListener("click", () => this.askToClear());
      this.confirm = this.buildConfirm();

      this.root.append(header, this.status, this.log, this.form, this.clearButton, this.confirm);
      root.replaceChildren(this.root);
    }

    // The in-widget question before the history is wiped (no browser pop-up).
    buildConfirm() {
      const confirm = el("div", {
        id: "daan-chat-confirm",
        class: "daan-chat__confirm",
        role: "group",
        "aria-labelledby": "daan-chat-confirm-question",
        hidden: "",
      });
      confirm.appendChild(
        el(
          "p",
          { id: "daan-chat-confirm-question", class: "daan-chat__confirm-question" },
          "清空后，上面的对话就看不到了。确定要清空吗？"
        )
      );
      const buttons = el("div", { class: "daan-chat__confirm-buttons" });
      const yes = el("button", { type: "button", class: "daan-chat__confirm-yes" }, "确定清空");
      this.keepButton = el("button", { type: "button", class: "daan-chat__confirm-no" }, "不清空");
      yes.addEventListener("click", () => {
        this.closeConfirm();
        this.clear();
      });
      this.keepButton.addEventListener("click", () => this.closeConfirm());
      confirm.addEventListener("keydown", (event) => {
        if (event.key === "Escape") this.closeConfirm();
      });
      buttons.append(yes, this.keepButton);
      confirm.appendChild(buttons);
      return confirm;
    }

    askToClear() {
      this.confirm.hidden = false;
      this.clearButton.setAttribute("aria-expanded", "true");
      // The harmless answer has the focus: pressing Enter keeps the history.
      this.keepButton.focus({ preventScroll: true });
      this.confirm.scrollIntoView({ block: "nearest" });
    }

    closeConfirm() {
      this.confirm.hidden = true;
      this.clearButton.setAttribute("aria-expanded", "false");
      this.clearButton.focus({ preventScroll: true });
    }

    setSize(size) {
      if (!SIZES.some(([name]) => name === size)) size = "standard";
      this.root.dataset.size = size;
      for (const button of this.sizeButtons) {
        button.setAttribute("aria-pressed", String(button.dataset.size === size));
      }
      store.set("size", size);
      // The page itself stays where the resident is (at the size buttons).
      this.revealInLog(this.lastMessage());
    }

    setState(state) {
      this.online = state === "online";
      this.root.dataset.state = state;
      this.status.textContent = STATES[state];
      // Still focusable and pressable offline: pressing it says why nothing was sent.
      this.sendButton.setAttribute("aria-disabled", String(!this.online));
    }

    connect() {
      this.socket = io(new URL(SERVER.namespace, BASE.origin).href, { path: SERVER.socketPath });
      // On every (re)connect the socket is new: ask to rejoin the stored conversation.
      this.socket.on("connect", () => {
        this.socket.emit("session_request", { token: this.token });
      });
      this.socket.on("session_confirm", (confirmed) => {
        if (!confirmed || typeof confirmed.token !== "string") return;
        // Another session than the stored one (its token expired): the conversation
        // shown has ended on the server, so it is not shown as if it went on.
        if (confirmed.session_id !== this.sessionId) this.forget();
        this.sessionId = confirmed.session_id;
        this.token = confirmed.token;
        store.set("session", this.sessionId);
        store.set("token", this.token);
        this.setState("online");
        this.greet();
      });
      this.socket.on("disconnect", () => this.setState("offline"));
      this.socket.on("connect_error", () => this.setState("offline"));
      this.socket.on(SERVER.botEvent, (message) => this.receive(message));
    }

    // An empty conversation starts with the bot's welcome and menu.
    greet() {
      if (this.history.length || this.greeted) return;
      this.greeted = true;
      this.opening = true;
      this.replyStart = null;
      this.socket.emit(SERVER.userEvent, { message: GREETING });
      this.waitForReply();
    }

    send(text, shownText = text) {
      if (!text) return false;
      if (!this.online) {
        this.notice.textContent = NOT_SENT;
        this.notice.scrollIntoView({ block: "nearest" });
        return false;
      }
      this.notice.textContent = "";
      this.socket.emit(SERVER.userEvent, { message: text });
      this.replyStart = null;
      this.reveal(this.add({ from: "user", text: shownText }));
      this.waitForReply();
      return true;
    }

    receive(message) {
      if (!message || typeof message.text !== "string") return;
      const buttons = (message.quick_replies || []).map(({ title, payload }) => ({ title, payload }));
      this.stopWaiting();
      const bubble = this.add({ from: "bot", text: message.text, buttons });
      // A reply can come as several messages: it is read from the start of the first.
      this.replyStart = this.replyStart || bubble;
      if (!this.styled) return; // revealed once the stylesheet has given the layout
      if (this.opening) this.revealOpening();
      else this.reveal(this.replyStart);
    }

    waitForReply() {
      this.log.appendChild(this.typing);
      clearTimeout(this.replyTimer);
      this.replyTimer = setTimeout(() => this.stopWaiting(), REPLY_WAIT_MS);
    }

    stopWaiting() {
      clearTimeout(this.replyTimer);
      this.typing.remove();
    }

    add(entry) {
      this.history.push(masked(entry));
      this.history = this.history.slice(-HISTORY_LIMIT);
      store.set("history", this.history);
      // The resident sees what was said; only the stored copy is masked.
      return this.render(entry, true);
    }

    render(entry, isLast) {
      // Suggested replies are offered only on the newest message: older ones are stale.
      for (const old of this.log.querySelectorAll(".daan-chat__choices")) old.remove();
      const end = this.typing.parentNode === this.log ? this.typing : null;
      const bubble = el("div", { class: `daan-chat__msg daan-chat__msg--${entry.from}` });
      bubble.appendChild(
        el("span", { class: "daan-chat__who" }, entry.from === "bot" ? "小助手：" : "我：")
      );
      bubble.appendChild(document.createTextNode(entry.text));
      this.log.insertBefore(bubble, end);
      if (isLast && entry.buttons && entry.buttons.length) {
        const choices = el("div", { class: "daan-chat__choices", role: "group", "aria-label": "您可以点选" });
        for (const { title, payload } of entry.buttons) {
          const button = el("button", { type: "button", class: "daan-chat__choice" }, title);
          button.addEventListener("click", () => {
            if (!this.send(payload, title)) return;
            // The tapped button goes away with the new message; keep the focus nearby.
            if (touchScreen()) this.log.focus({ preventScroll: true });
            else this.input.focus({ preventScroll: true });
          });
          choices.appendChild(button);
        }
        this.log.insertBefore(choices, end);
      }
      return bubble;
    }

    lastMessage() {
      const all = this.log.querySelectorAll(".daan-chat__msg");
      return all.length ? all[all.length - 1] : null;
    }

    // Widest screens: the log is a box of its own. Show the message from its start, or
    // everything after it when that fits.
    revealInLog(node) {
      const log = this.log;
      if (!node || log.scrollHeight <= log.clientHeight) return;
      const top =
        node.getBoundingClientRect().top -
        log.getBoundingClientRect().top -
        log.clientTop +
        log.scrollTop -
        SCROLL_MARGIN;
      log.scrollTop = Math.min(top, log.scrollHeight - log.clientHeight);
    }

    // Scroll the page as little as needed to show from `node` down to the input; when
    // that is taller than the screen, the start of `node` (read from the top) — or,
    // with `inputFirst`, the input.
    reveal(node, inputFirst = false) {
      if (!node) return;
      this.revealInLog(node);
      const scroller = pageScroller(this.root);
      let top = 0;
      let bottom = viewportHeight();
      if (scroller) {
        const area = scroller.getBoundingClientRect();
        top = Math.max(top, area.top + scroller.clientTop);
        bottom = Math.min(bottom, area.top + scroller.clientTop + scroller.clientHeight);
      }
      const view = bottom - top;
      const start = node.getBoundingClientRect().top - SCROLL_MARGIN - top;
      const end = this.form.getBoundingClientRect().bottom + SCROLL_MARGIN - top;
      let delta = 0;
      if (end - start <= view) {
        if (start < 0) delta = start;
        else if (end > view) delta = end - view;
      } else {
        delta = inputFirst ? end - view : start;
      }
      if (Math.abs(delta) < 1) return;
      if (scroller) scroller.scrollTop += delta;
      else window.scrollBy(0, delta);
    }

    // Opening the page (or after clearing): the newest message and the input on screen.
    revealOpening() {
      this.opening = false;
      this.reveal(this.lastMessage(), true);
    }

    // Called once the stylesheet applies: only then do the sizes mean anything.
    styledIn() {
      this.styled = true;
      if (this.history.length) this.revealOpening();
    }

    // The conversation shown is gone: a new one opens with the welcome (see greet).
    forget() {
      this.history = [];
      this.greeted = false;
      this.replyStart = null;
      store.remove("history");
      this.stopWaiting();
      this.log.replaceChildren();
      this.notice.textContent = "";
    }

    clear() {
      // Also forget the session: on a shared computer the next person starts afresh.
      this.forget();
      this.sessionId = null;
      this.token = null;
      store.remove("session");
      store.remove("token");
      if (this.socket && this.socket.connected) {
        this.socket.emit("session_request", { token: null });
      }
    }
  }

  function start() {
    const root = document.getElementById("daan-chat");
    if (!root) return;
    const chat = new Chat(root);
    // Sizes mean something once the stylesheet applies; and on a reload the browser puts
    // the page back where it was, until the page has loaded. Scroll after both.
    const loaded = new Promise((resolve) => {
      if (document.readyState === "complete") resolve();
      else window.addEventListener("load", resolve, { once: true });
    });
    loadStylesheet(() => loaded.then(() => setTimeout(() => chat.styledIn(), 0)));
    // If the server is down when the page opens, keep trying, as the socket would.
    const loadClient = () =>
      loadScript(new URL("socket.io.min.js", BASE)).then(
        () => chat.connect(),
        () => {
          chat.setState("offline");
          setTimeout(loadClient, CLIENT_RETRY_MS);
        }
      );
    loadClient();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

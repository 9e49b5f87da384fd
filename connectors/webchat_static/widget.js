/*
 * 大安区便民服务小助手 — web chat widget.
 *
 * Embed:  <div id="daan-chat"></div>
 *         <script src="http(s)://<rasa-server>/webhooks/socketio/widget.js" defer></script>
 *
 * Plain JS, no build step. Talks to Rasa's socket.io channel (connectors/webchat.py)
 * through the vendored socket.io-client, loaded from the same server as this file.
 * The conversation and the session id live in the page's localStorage, so a reload
 * or a reconnect continues the same conversation and shows what was said.
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

  class Chat {
    constructor(root) {
      this.history = store.get("history", []);
      this.sessionId = store.get("session", null);
      this.socket = null;
      this.online = false;
      this.replyTimer = null;
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
      this.typing = el("p", { class: "daan-chat__typing", hidden: "" }, "小助手正在回复…");

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
        placeholder: "比如：低保要带啥子材料",
      });
      this.sendButton = el("button", { type: "submit", class: "daan-chat__send" }, "发送");
      row.append(this.input, this.sendButton);
      this.form.appendChild(row);
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        if (this.send(this.input.value.trim())) this.input.value = "";
        this.input.focus();
      });

      const clear = el("button", { type: "button", class: "daan-chat__clear" }, "清空对话记录");
      clear.addEventListener("click", () => this.clear());

      this.root.append(header, this.status, this.log, this.typing, this.form, clear);
      root.replaceChildren(this.root);
    }

    setSize(size) {
      if (!SIZES.some(([name]) => name === size)) size = "standard";
      this.root.dataset.size = size;
      for (const button of this.sizeButtons) {
        button.setAttribute("aria-pressed", String(button.dataset.size === size));
      }
      store.set("size", size);
      this.scrollToEnd();
    }

    scrollToEnd() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    setState(state) {
      this.online = state === "online";
      this.root.dataset.state = state;
      this.status.textContent = STATES[state];
      this.sendButton.disabled = !this.online;
    }

    connect() {
      this.socket = io(new URL(SERVER.namespace, BASE.origin).href, { path: SERVER.socketPath });
      // On every (re)connect the socket is new: ask to rejoin the stored conversation.
      this.socket.on("connect", () => {
        this.socket.emit("session_request", { session_id: this.sessionId });
      });
      this.socket.on("session_confirm", (sessionId) => {
        this.sessionId = sessionId;
        store.set("session", sessionId);
        this.setState("online");
      });
      this.socket.on("disconnect", () => this.setState("offline"));
      this.socket.on("connect_error", () => this.setState("offline"));
      this.socket.on(SERVER.botEvent, (message) => this.receive(message));
    }

    send(text, shownText = text) {
      if (!text || !this.online) return false;
      this.socket.emit(SERVER.userEvent, { message: text, session_id: this.sessionId });
      this.add({ from: "user", text: shownText });
      this.waitForReply();
      return true;
    }

    receive(message) {
      if (!message || typeof message.text !== "string") return;
      const buttons = (message.quick_replies || []).map(({ title, payload }) => ({ title, payload }));
      this.add({ from: "bot", text: message.text, buttons });
      clearTimeout(this.replyTimer);
      this.typing.hidden = true;
    }

    waitForReply() {
      this.typing.hidden = false;
      clearTimeout(this.replyTimer);
      this.replyTimer = setTimeout(() => (this.typing.hidden = true), REPLY_WAIT_MS);
    }

    add(entry) {
      this.history.push(entry);
      this.history = this.history.slice(-HISTORY_LIMIT);
      store.set("history", this.history);
      this.render(entry, true);
    }

    render(entry, isLast) {
      // Suggested replies are offered only on the newest message: older ones are stale.
      for (const old of this.log.querySelectorAll(".daan-chat__choices")) old.remove();
      const bubble = el("div", { class: `daan-chat__msg daan-chat__msg--${entry.from}` });
      bubble.appendChild(
        el("span", { class: "daan-chat__who" }, entry.from === "bot" ? "小助手：" : "我：")
      );
      bubble.appendChild(document.createTextNode(entry.text));
      this.log.appendChild(bubble);
      if (isLast && entry.buttons && entry.buttons.length) {
        const choices = el("div", { class: "daan-chat__choices", role: "group", "aria-label": "您可以点选" });
        for (const { title, payload } of entry.buttons) {
          const button = el("button", { type: "button", class: "daan-chat__choice" }, title);
          button.addEventListener("click", () => {
            if (this.send(payload, title)) this.input.focus();
          });
          choices.appendChild(button);
        }
        this.log.appendChild(choices);
      }
      this.scrollToEnd();
    }

    clear() {
      // Also forget the session id: on a shared computer the next person starts afresh.
      this.history = [];
      this.sessionId = null;
      store.remove("history");
      store.remove("session");
      this.log.replaceChildren();
      this.typing.hidden = true;
      if (this.socket && this.socket.connected) {
        this.socket.emit("session_request", { session_id: null });
      }
    }
  }

  function start() {
    const root = document.getElementById("daan-chat");
    if (!root) return;
    const chat = new Chat(root);
    // The log only gets its fixed height from the stylesheet: scroll to the newest then.
    loadStylesheet(() => chat.scrollToEnd());
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

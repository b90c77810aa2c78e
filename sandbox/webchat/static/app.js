/*
 * The web chat page: one simulated user's chat with the bot, over the local Bot API server's
 * /_sim API. The history is loaded once per user switch, then events are long-polled from the
 * cursor it returned; every render goes through createElement/textContent (html.js for the
 * bot's formatting). window.__webchat tells browser tests when the page is ready and how far
 * it has read.
 */
(function () {
  "use strict";

  const TelegramHtml = window.TelegramHtml;
  const POLL_SECONDS = 25;
  const MAX_BACKOFF_MS = 5000;
  const TOAST_MS = 3500;
  const TYPING_MS = 5000;
  const COPIED_MS = 2000;
  // what the top bar says while the bot shows a chat action (sendChatAction), as Telegram does
  const CHAT_ACTIONS = {
    typing: "đang nhập…",
    upload_photo: "đang gửi ảnh…",
    record_video: "đang quay video…",
    upload_video: "đang gửi video…",
    record_voice: "đang ghi âm…",
    upload_voice: "đang gửi tin nhắn thoại…",
    upload_document: "đang gửi tệp…",
    choose_sticker: "đang chọn nhãn dán…",
    find_location: "đang tìm vị trí…",
    record_video_note: "đang quay video…",
    upload_video_note: "đang gửi video…",
  };
  const PENDING_MS = 10000;

  const webchat = { ready: false, lastEventSeq: 0, userId: null, lastToast: null, lastCopied: null };
  window.__webchat = webchat;

  const ui = {
    picker: document.getElementById("user-picker"),
    botName: document.getElementById("bot-name"),
    avatar: document.getElementById("avatar"),
    status: document.getElementById("status"),
    links: document.getElementById("links"),
    messages: document.getElementById("messages"),
    keyboard: document.getElementById("reply-keyboard"),
    form: document.getElementById("composer-form"),
    input: document.getElementById("composer"),
    toast: document.getElementById("toast"),
    alert: document.getElementById("alert"),
    alertText: document.getElementById("alert-text"),
    share: document.getElementById("share-users"),
    shareList: document.getElementById("share-users-list"),
  };

  const chat = {
    users: [],
    userId: null,
    instance: null,
    generation: 0,
    cursor: 0,
    poll: null,
    keyboardJson: "null",
    online: true,
    typingTimer: null,
    action: null,
    toastTimer: null,
  };

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  async function api(method, path, body, signal) {
    const init = { method: method, headers: { Accept: "application/json" }, signal: signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (!response.ok || !payload || !payload.ok) {
      throw new Error((payload && payload.error) || "HTTP " + response.status);
    }
    return payload.result;
  }

  function userPath(suffix) {
    return "/_sim/users/" + encodeURIComponent(chat.userId) + suffix;
  }

  function fileUrl(fileId) {
    return "/_sim/files/" + encodeURIComponent(fileId);
  }

  function clock(seconds) {
    const date = new Date(seconds * 1000);
    const pad = function (n) {
      return String(n).padStart(2, "0");
    };
    return pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function fileSize(bytes) {
    if (!bytes && bytes !== 0) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  // -- feedback ------------------------------------------------------------------------------

  function showToast(text, isError) {
    webchat.lastToast = text;
    ui.toast.textContent = text;
    ui.toast.classList.toggle("error", Boolean(isError));
    ui.toast.hidden = false;
    clearTimeout(chat.toastTimer);
    chat.toastTimer = setTimeout(function () {
      ui.toast.hidden = true;
    }, TOAST_MS);
  }

  function showAlert(text) {
    ui.alertText.textContent = text;
    if (typeof ui.alert.showModal === "function") {
      if (!ui.alert.open) ui.alert.showModal();
    } else {
      window.alert(text);
    }
  }

  function renderStatus() {
    if (!chat.online) {
      ui.status.textContent = "đang kết nối lại…";
    } else if (chat.typingTimer && chat.action) {
      ui.status.textContent = CHAT_ACTIONS[chat.action] || CHAT_ACTIONS.typing;
    } else {
      ui.status.textContent = "bot";
    }
    ui.status.classList.toggle("offline", !chat.online);
    ui.status.dataset.action = (chat.online && chat.typingTimer && chat.action) || "";
  }

  function setOnline(online) {
    if (chat.online === online) return;
    chat.online = online;
    renderStatus();
  }

  // the bot's chat action (null: none), shown until its next message or for 5 seconds
  function setAction(action) {
    clearTimeout(chat.typingTimer);
    chat.action = action;
    chat.typingTimer = action
      ? setTimeout(function () {
          chat.typingTimer = null;
          chat.action = null;
          renderStatus();
        }, TYPING_MS)
      : null;
    renderStatus();
  }

  // -- messages ------------------------------------------------------------------------------

  function photoNode(photo) {
    const link = element("a", { href: fileUrl(photo.file_id), target: "_blank", rel: "noopener", class: "photo" });
    link.appendChild(
      element("img", {
        src: fileUrl(photo.file_id),
        alt: "Ảnh",
        width: photo.width,
        height: photo.height,
        "data-testid": "photo",
      }),
    );
    return link;
  }

  function documentNode(doc) {
    const name = doc.file_name || "tệp";
    const link = element("a", {
      href: fileUrl(doc.file_id),
      download: name,
      class: "document",
      "data-testid": "document",
    });
    const dot = name.lastIndexOf(".");
    const extension = dot > 0 ? name.slice(dot + 1, dot + 5).toUpperCase() : "FILE";
    link.appendChild(element("span", { class: "document-icon", "aria-hidden": "true" }, extension));
    const about = element("span", { class: "document-about" });
    about.appendChild(element("span", { class: "document-name" }, name));
    about.appendChild(element("span", { class: "document-size" }, fileSize(doc.file_size)));
    link.appendChild(about);
    return link;
  }

  function contactNode(contact) {
    const card = element("div", { class: "contact", "data-testid": "contact" });
    const name = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
    card.appendChild(element("span", { class: "contact-name" }, name));
    card.appendChild(element("span", { class: "contact-phone" }, contact.phone_number));
    return card;
  }

  function personName(user) {
    const name = [user.first_name, user.last_name].filter(Boolean).join(" ");
    return name || (user.username ? "@" + user.username : String(user.user_id || user.id));
  }

  // what Telegram's apps show for the service message a request_users button sends
  function usersSharedNode(shared) {
    const names = (shared.users || []).map(personName).join(", ");
    return element("div", { class: "service-note", "data-testid": "users-shared" }, "Đã chọn: " + names);
  }

  function inlineButton(message, button) {
    const common = { class: "inline-button", "data-testid": "inline-button", "data-kind": button.kind };
    if (button.kind === "url") {
      const href = TelegramHtml.safeHref(button.url);
      if (href) {
        return element("a", Object.assign(common, { href: href, target: "_blank", rel: "noopener noreferrer" }), button.text);
      }
    }
    const node = element("button", Object.assign(common, { type: "button" }), button.text);
    if (button.kind === "callback_data") {
      node.addEventListener("click", function () {
        press(message.message_id, button, node);
      });
    } else if (button.kind === "copy_text" && button.copy_text) {
      // like Telegram's apps: copied on the device, nothing reaches the bot
      node.title = button.copy_text;
      node.addEventListener("click", function () {
        copyText(button.copy_text, node);
      });
    } else {
      node.disabled = true;
      node.title = "Sandbox không hỗ trợ loại nút này";
    }
    return node;
  }

  function messageNode(message) {
    const from = message.from_bot ? "bot" : "user";
    const row = element("div", {
      class: "message from-" + from,
      "data-testid": "message",
      "data-from": from,
      "data-message-id": message.message_id,
      "data-edited": message.edited ? "true" : null,
    });
    const bubble = element("div", { class: "bubble" });
    if (message.photo) bubble.appendChild(photoNode(message.photo));
    if (message.document) bubble.appendChild(documentNode(message.document));
    if (message.contact) bubble.appendChild(contactNode(message.contact));
    if (message.users_shared) bubble.appendChild(usersSharedNode(message.users_shared));
    const body = message.text !== null && message.text !== undefined ? message.text : message.caption;
    if (body !== null && body !== undefined) {
      const text = element("div", { class: "text", "data-testid": "message-text" });
      if (message.html !== null && message.html !== undefined) {
        TelegramHtml.render(message.html, document, text);
      } else {
        text.textContent = body;
      }
      bubble.appendChild(text);
    }
    const meta = element("span", { class: "meta" });
    if (message.edited) meta.appendChild(element("span", { class: "edited" }, "đã sửa"));
    meta.appendChild(
      element("time", { datetime: new Date(message.date * 1000).toISOString() }, clock(message.date)),
    );
    bubble.appendChild(meta);
    row.appendChild(bubble);
    if (message.buttons && message.buttons.length) {
      const keyboard = element("div", { class: "inline-keyboard" });
      for (const buttons of message.buttons) {
        const line = element("div", { class: "keyboard-row" });
        for (const button of buttons) line.appendChild(inlineButton(message, button));
        keyboard.appendChild(line);
      }
      row.appendChild(keyboard);
    }
    return row;
  }

  function findMessage(messageId) {
    return ui.messages.querySelector('[data-testid="message"][data-message-id="' + Number(messageId) + '"]');
  }

  function nearBottom() {
    const box = ui.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function renderEmpty() {
    const empty = ui.messages.querySelector(".empty");
    const hasMessages = ui.messages.querySelector('[data-testid="message"]') !== null;
    if (hasMessages && empty) empty.remove();
    if (!hasMessages && !empty && chat.userId !== null) {
      const box = element("div", { class: "empty" });
      box.appendChild(element("p", {}, "Chưa có tin nhắn nào."));
      const start = element("button", { type: "button", class: "start", "data-testid": "start" }, "Bắt đầu");
      start.addEventListener("click", function () {
        sendText("/start");
      });
      box.appendChild(start);
      ui.messages.appendChild(box);
    }
  }

  function upsert(message) {
    const node = messageNode(message);
    const existing = findMessage(message.message_id);
    if (existing) {
      existing.replaceWith(node);
      return;
    }
    const follow = nearBottom() || !message.from_bot;
    const later = Array.from(ui.messages.querySelectorAll('[data-testid="message"]')).find(function (other) {
      return Number(other.dataset.messageId) > message.message_id;
    });
    ui.messages.insertBefore(node, later || null);
    renderEmpty();
    if (follow) scrollToBottom();
  }

  function remove(messageId) {
    const existing = findMessage(messageId);
    if (existing) existing.remove();
    renderEmpty();
  }

  function clearPending(node) {
    node.classList.remove("pending");
    node.removeAttribute("aria-busy");
  }

  async function press(messageId, button, node) {
    node.classList.add("pending");
    node.setAttribute("aria-busy", "true");
    setTimeout(function () {
      clearPending(node);
    }, PENDING_MS);
    try {
      await api("POST", userPath("/press"), { message_id: messageId, callback_data: button.callback_data });
    } catch (error) {
      clearPending(node);
      showToast(error.message, true);
    }
  }

  function callbackAnswered(answer) {
    const message = findMessage(answer.message_id);
    if (message) message.querySelectorAll(".pending").forEach(clearPending);
    if (!answer.text) return;
    if (answer.show_alert) showAlert(answer.text);
    else showToast(answer.text, false);
  }

  // -- reply keyboard and composer -------------------------------------------------------------

  function renderKeyboard(rows) {
    const json = JSON.stringify(rows || null);
    if (json === chat.keyboardJson) return;
    chat.keyboardJson = json;
    ui.keyboard.replaceChildren();
    ui.keyboard.hidden = !rows || rows.length === 0;
    for (const buttons of rows || []) {
      const line = element("div", { class: "keyboard-row" });
      for (const button of buttons) {
        const node = element(
          "button",
          { type: "button", class: "reply-button", "data-testid": "reply-button", "data-kind": button.kind },
          button.text,
        );
        node.addEventListener("click", function () {
          if (button.kind === "request_users") {
            shareUsers(button.request_id);
          } else {
            pressReply(button.text);
          }
        });
        line.appendChild(node);
      }
      ui.keyboard.appendChild(line);
    }
  }

  // navigator.clipboard exists only in a secure context (the page on localhost or HTTPS); on
  // a plain-HTTP address of the machine the older copy command still works
  function legacyCopy(text) {
    const area = element("textarea", { readonly: "", "aria-hidden": "true", class: "visually-hidden" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    let done = false;
    try {
      done = document.execCommand("copy");
    } catch (error) {
      done = false;
    }
    area.remove();
    return done;
  }

  async function copyText(text, node) {
    let done = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        done = true;
      } catch (error) {
        done = legacyCopy(text);
      }
    } else {
      done = legacyCopy(text);
    }
    webchat.lastCopied = done ? text : null;
    if (!done) {
      showToast("Không sao chép được: " + text, true);
      return;
    }
    showToast("Đã sao chép: " + text, false);
    node.classList.add("copied");
    node.dataset.copied = "true";
    setTimeout(function () {
      node.classList.remove("copied");
      delete node.dataset.copied;
    }, COPIED_MS);
  }

  // a request_users button: the simulated users other than the one chatting, as Telegram
  // lists the user's contacts (no bots, never themselves); picking one sends users_shared
  function shareUsers(requestId) {
    ui.shareList.replaceChildren();
    const others = chat.users.filter(function (user) {
      return user.id !== chat.userId;
    });
    if (others.length === 0) {
      ui.shareList.appendChild(element("p", { class: "share-users-empty" }, "Không có người dùng nào khác."));
    }
    for (const user of others) {
      const option = element("button", {
        type: "button",
        class: "share-user",
        "data-testid": "share-user",
        "data-user-id": user.id,
      });
      option.appendChild(element("span", { class: "share-user-name" }, personName(user)));
      const about = [user.username ? "@" + user.username : null, user.demo ? user.label : null];
      option.appendChild(element("span", { class: "share-user-about" }, about.filter(Boolean).join(" · ")));
      option.addEventListener("click", function () {
        ui.share.close();
        sendSharedUsers(requestId, [user.id]);
      });
      ui.shareList.appendChild(option);
    }
    if (typeof ui.share.showModal === "function") {
      if (!ui.share.open) ui.share.showModal();
    } else {
      ui.share.setAttribute("open", "");
    }
  }

  async function sendSharedUsers(requestId, ids) {
    try {
      await api("POST", userPath("/users_shared"), { request_id: requestId, user_ids: ids });
    } catch (error) {
      showToast(error.message, true);
    }
  }

  async function pressReply(text) {
    try {
      await api("POST", userPath("/keyboard"), { text: text });
    } catch (error) {
      showToast(error.message, true);
    }
  }

  async function sendText(text) {
    if (!text.trim() || chat.userId === null) return false;
    try {
      await api("POST", userPath("/messages"), { text: text });
      return true;
    } catch (error) {
      showToast(error.message, true);
      return false;
    }
  }

  async function submitComposer() {
    const text = ui.input.value;
    if (!text.trim()) return;
    ui.input.value = "";
    fitComposer();
    if (!(await sendText(text)) && !ui.input.value) {
      ui.input.value = text;
      fitComposer();
    }
  }

  function fitComposer() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 160) + "px";
  }

  // -- events ----------------------------------------------------------------------------------

  function apply(event) {
    switch (event.kind) {
      case "message":
      case "edit":
        if (event.from_bot && event.kind === "message") setAction(null);
        upsert(event.data);
        break;
      case "delete":
        remove(event.message_id);
        break;
      case "callback_answer":
        callbackAnswered(event.data);
        break;
      case "chat_action":
        setAction(Object.prototype.hasOwnProperty.call(CHAT_ACTIONS, event.data.action) ? event.data.action : null);
        break;
      default:
        break;
    }
  }

  async function poll(generation) {
    let backoff = 0;
    while (generation === chat.generation) {
      const controller = new AbortController();
      chat.poll = controller;
      const started = Date.now();
      try {
        const path =
          "/webchat/api/users/" + encodeURIComponent(chat.userId) +
          "/events?after=" + chat.cursor + "&timeout=" + POLL_SECONDS +
          "&instance=" + encodeURIComponent(chat.instance);
        const result = await api("GET", path, undefined, controller.signal);
        if (generation !== chat.generation) return;
        if (result.instance !== chat.instance) {
          chat.instance = result.instance;
          selectUser(chat.userId);
          return;
        }
        for (const event of result.events) apply(event);
        chat.cursor = result.last;
        webchat.lastEventSeq = result.last;
        renderKeyboard(result.keyboard);
        setOnline(true);
        backoff = 0;
        if (result.events.length === 0 && Date.now() - started < 1000) await sleep(1000);
      } catch (error) {
        if (generation !== chat.generation) return;
        setOnline(false);
        backoff = Math.min(backoff ? backoff * 2 : 500, MAX_BACKOFF_MS);
        await sleep(backoff);
      }
    }
  }

  async function selectUser(userId) {
    chat.generation += 1;
    const generation = chat.generation;
    if (chat.poll) chat.poll.abort();
    chat.userId = userId;
    webchat.ready = false;
    webchat.userId = userId;
    ui.picker.value = String(userId);
    try {
      localStorage.setItem("webchat.user", String(userId));
    } catch (error) {
      // Storage may be disabled; the URL still remembers the user.
    }
    const url = new URL(window.location.href);
    url.searchParams.set("user", String(userId));
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    ui.messages.replaceChildren();
    renderKeyboard(null);
    if (ui.share.open) ui.share.close();
    setAction(null);
    let backoff = 0;
    let history = null;
    while (history === null) {
      try {
        history = await api("GET", userPath("/history"));
      } catch (error) {
        if (generation !== chat.generation) return;
        setOnline(false);
        backoff = Math.min(backoff ? backoff * 2 : 500, MAX_BACKOFF_MS);
        await sleep(backoff);
      }
      if (generation !== chat.generation) return;
    }
    setOnline(true);
    for (const message of history.messages) upsert(message);
    renderEmpty();
    renderKeyboard(history.keyboard);
    chat.cursor = history.last_event;
    webchat.lastEventSeq = history.last_event;
    scrollToBottom();
    webchat.ready = true;
    poll(generation);
  }

  // -- start-up --------------------------------------------------------------------------------

  function renderConfig(config) {
    const name = (config.bot && config.bot.first_name) || "Bot";
    ui.botName.textContent = name;
    ui.avatar.textContent = name.slice(0, 1).toUpperCase();
    document.title = name + " · Sandbox";
    chat.users = config.users;
    ui.picker.replaceChildren();
    for (const user of config.users) {
      const fullName = [user.first_name, user.last_name].filter(Boolean).join(" ");
      const option = element("option", { value: user.id, title: [fullName, user.phone_number].filter(Boolean).join(" · ") }, user.label);
      ui.picker.appendChild(option);
    }
    ui.links.replaceChildren();
    for (const link of config.links) {
      ui.links.appendChild(element("a", { href: link.url, target: "_blank", rel: "noopener" }, link.label));
    }
    ui.links.hidden = config.links.length === 0;
  }

  function initialUser() {
    const ids = chat.users.map(function (user) {
      return String(user.id);
    });
    let remembered = null;
    try {
      remembered = localStorage.getItem("webchat.user");
    } catch (error) {
      remembered = null;
    }
    const wanted = [new URL(window.location.href).searchParams.get("user"), remembered];
    const found = wanted.find(function (id) {
      return id !== null && ids.includes(id);
    });
    return found !== undefined ? Number(found) : ids.length ? Number(ids[0]) : null;
  }

  async function start() {
    let config = null;
    let backoff = 0;
    while (config === null) {
      try {
        config = await api("GET", "/webchat/api/config");
      } catch (error) {
        setOnline(false);
        backoff = Math.min(backoff ? backoff * 2 : 500, MAX_BACKOFF_MS);
        await sleep(backoff);
      }
    }
    setOnline(true);
    chat.instance = config.instance;
    renderConfig(config);
    const userId = initialUser();
    if (userId === null) {
      ui.messages.replaceChildren(element("div", { class: "empty" }, "Chưa có người dùng nào để chọn."));
      webchat.ready = true;
      return;
    }
    selectUser(userId);
  }

  ui.picker.addEventListener("change", function () {
    selectUser(Number(ui.picker.value));
  });
  ui.form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitComposer();
  });
  ui.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitComposer();
    }
  });
  ui.input.addEventListener("input", fitComposer);
  ui.messages.addEventListener("click", function (event) {
    const spoiler = event.target.closest(".tg-spoiler");
    if (spoiler) spoiler.classList.add("revealed");
  });

  start();
})();

// The local Slack client: renders the conversation the server pushes (server-sent events) and sends what you
// type or click back to it. Text from messages only ever becomes DOM text nodes (textContent), never HTML.
"use strict";

const EMOJI = {
  white_check_mark: "\u2705", x: "\u274C", warning: "\u26A0\uFE0F", no_entry: "\u26D4",
  hourglass_flowing_sand: "\u23F3", hourglass: "\u231B", arrows_counterclockwise: "\uD83D\uDD04",
  question: "\u2753", grey_question: "\u2754", leftwards_arrow_with_hook: "\u21A9\uFE0F",
  black_square_for_stop: "\u23F9\uFE0F", white_circle: "\u26AA", table_tennis_paddle_and_ball: "\uD83C\uDFD3",
  raised_hand: "\u270B", point_right: "\uD83D\uDC49", heavy_multiplication_x: "\u2716\uFE0F",
  large_green_circle: "\uD83D\uDFE2", red_circle: "\uD83D\uDD34", rocket: "\uD83D\uDE80", bell: "\uD83D\uDD14",
  construction: "\uD83D\uDEA7", "+1": "\uD83D\uDC4D", tada: "\uD83C\uDF89", lock: "\uD83D\uDD12",
  rotating_light: "\uD83D\uDEA8", point_down: "\uD83D\uDC47", information_source: "\u2139\uFE0F", unlock: "\uD83D\uDD13",
  snowflake: "\u2744\uFE0F", octagonal_sign: "\uD83D\uDED1", arrow_forward: "\u25B6\uFE0F",
  raising_hand: "\uD83D\uDE4B",
};

const state = {
  bot: "U0OPSBOT",
  users: new Map(),
  groups: {},
  dmReadOnly: null,
  channels: new Map(),
  messages: new Map(),
  me: null,
  channel: null,
  threadTs: null,
  unread: new Map(),
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function unescapeSlack(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

// -- mrkdwn -------------------------------------------------------------------------------------

const INLINE = /`([^`\n]+)`|<([^<>\n]+)>|\*([^*\n]+)\*|(?<![A-Za-z0-9_])_([^_\n]+)_(?![A-Za-z0-9_])|~([^~\n]+)~|:([a-z0-9_+-]+):/g;

function mrkdwn(text) {
  const root = el("span", "mrkdwn");
  const parts = String(text).split("```");
  parts.forEach((part, i) => {
    const isCode = i % 2 === 1 && i < parts.length - 1;
    if (isCode) {
      root.appendChild(el("pre", "code", unescapeSlack(part.replace(/^\n/, ""))));
    } else {
      const piece = i % 2 === 1 ? "```" + part : part;
      quotes(piece, root);
    }
  });
  return root;
}

function quotes(text, parent) {
  // A line that starts with a raw ">" is a quote, as in Slack ("&gt;", the escaped character, is not).
  let plain = [];
  const flush = () => {
    if (plain.length) inline(plain.join("\n"), parent);
    plain = [];
  };
  for (const line of text.split("\n")) {
    if (!line.startsWith(">")) {
      plain.push(line);
      continue;
    }
    flush();
    const quote = el("blockquote", "quote");
    inline(line.slice(1).replace(/^ /, ""), quote);
    parent.appendChild(quote);
  }
  flush();
}

function inline(text, parent) {
  let at = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > at) parent.appendChild(document.createTextNode(unescapeSlack(text.slice(at, match.index))));
    parent.appendChild(token(match));
    at = match.index + match[0].length;
  }
  if (at < text.length) parent.appendChild(document.createTextNode(unescapeSlack(text.slice(at))));
}

function token(match) {
  const [whole, code, angle, bold, italic, strike, emoji] = match;
  if (code !== undefined) return el("code", "", unescapeSlack(code));
  if (angle !== undefined) return reference(angle);
  if (bold !== undefined || italic !== undefined || strike !== undefined) {
    const node = el(bold !== undefined ? "strong" : italic !== undefined ? "em" : "del");
    inline(bold ?? italic ?? strike, node);
    return node;
  }
  if (emoji !== undefined && EMOJI[emoji]) {
    const node = el("span", "emoji", EMOJI[emoji]);
    node.title = `:${emoji}:`;
    return node;
  }
  return document.createTextNode(unescapeSlack(whole));
}

function reference(inner) {
  // <@U123>, <#C123|name>, <!subteam^S123|@sre>, <!here>, <https://x|label>; anything else is plain text.
  const [target, label] = inner.split("|", 2);
  if (target.startsWith("@")) {
    const user = state.users.get(target.slice(1));
    const name = target.slice(1) === state.bot ? "opsbot" : user ? user.name : target.slice(1);
    return el("span", "mention", "@" + name);
  }
  if (target.startsWith("#")) {
    const channel = state.channels.get(target.slice(1));
    return el("span", "mention", "#" + (label || (channel ? channel.name : target.slice(1))));
  }
  if (target.startsWith("!subteam^")) {
    const id = target.slice(9);
    return el("span", "mention", label ? unescapeSlack(label) : "@" + (Object.hasOwn(state.groups, id) ? String(state.groups[id]) : id));
  }
  if (target === "!here" || target === "!channel" || target === "!everyone") {
    return el("span", "mention", "@" + target.slice(1));
  }
  if (/^(https?:\/\/|mailto:)/i.test(target)) {
    const link = el("a", "", unescapeSlack(label || target));
    link.href = unescapeSlack(target);
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }
  return document.createTextNode(unescapeSlack("<" + inner + ">"));
}

// -- Block Kit ----------------------------------------------------------------------------------

function textObject(obj) {
  if (obj === null || obj === undefined) return el("span");
  if (typeof obj === "string") return el("span", "", obj);
  if (obj.type === "mrkdwn") return mrkdwn(obj.text || "");
  return el("span", "plain", obj.text || "");
}

function element(message, blockId, item) {
  const type = item.type || "";
  if (type === "button") {
    const button = el("button", "bk-button" + (item.style ? " " + item.style : ""));
    button.type = "button";
    button.textContent = (item.text && item.text.text) || "";
    button.dataset.actionId = item.action_id || "";
    button.addEventListener("click", () => act(button, message, blockId, item.action_id, null));
    return button;
  }
  if (type === "static_select" || type === "external_select") {
    const select = el("select", "bk-select");
    select.dataset.actionId = item.action_id || "";
    const placeholder = el("option", "", (item.placeholder && item.placeholder.text) || "Select an item");
    placeholder.value = "";
    select.appendChild(placeholder);
    const addOption = (parent, option) => {
      const node = el("option", "", (option.text && option.text.text) || "");
      node.value = option.value || "";
      parent.appendChild(node);
    };
    (item.options || []).forEach((option) => addOption(select, option));
    (item.option_groups || []).forEach((group) => {
      const node = el("optgroup");
      node.label = (group.label && group.label.text) || "";
      (group.options || []).forEach((option) => addOption(node, option));
      select.appendChild(node);
    });
    select.addEventListener("change", () => {
      if (select.value) act(select, message, blockId, item.action_id, select.value);
    });
    return select;
  }
  if (type === "mrkdwn" || type === "plain_text") return textObject(item);
  if (type === "image") return el("span", "image", `[image: ${item.alt_text || ""}]`);
  return el("span", "unsupported", `[${type}]`);
}

function block(message, item) {
  const type = item.type;
  const blockId = item.block_id || "";
  if (type === "section") {
    const node = el("div", "block block-section");
    const main = el("div", "section-main");
    if (item.text) main.appendChild(textObject(item.text));
    if (Array.isArray(item.fields) && item.fields.length) {
      const fields = el("div", "fields");
      item.fields.forEach((field) => fields.appendChild(textObject(field)));
      main.appendChild(fields);
    }
    node.appendChild(main);
    if (item.accessory) node.appendChild(element(message, blockId, item.accessory));
    return node;
  }
  if (type === "header") return el("div", "block block-header", (item.text && item.text.text) || "");
  if (type === "divider") return el("hr", "block block-divider");
  if (type === "context") {
    const node = el("div", "block block-context");
    (item.elements || []).forEach((part) => node.appendChild(element(message, blockId, part)));
    return node;
  }
  if (type === "actions") {
    const node = el("div", "block block-actions");
    (item.elements || []).forEach((part) => node.appendChild(element(message, blockId, part)));
    return node;
  }
  if (type === "image") return el("div", "block image", `[image: ${item.alt_text || ""}]`);
  if (type === "rich_text") return el("div", "block mrkdwn", richText(item.elements));
  return el("div", "block unsupported", `[${type} block]`);
}

function richText(elements) {
  return (elements || [])
    .map((part) => {
      if (part.elements) return richText(part.elements);
      if (part.type === "link") return part.text || part.url || "";
      if (part.type === "emoji") return EMOJI[part.name] || `:${part.name}:`;
      if (part.type === "user") return "@" + ((state.users.get(part.user_id) || {}).name || part.user_id);
      return part.text || "";
    })
    .join("");
}

// -- messages -----------------------------------------------------------------------------------

function visible(message) {
  return !message.deleted && (message.visible_to === null || message.visible_to === state.me);
}

function authorName(message) {
  if (message.bot) return "opsbot";
  if (message.user === "USLACKBOT") return "Slackbot";
  const user = state.users.get(message.user);
  return user ? user.name : message.user;
}

function fillMessage(node, message) {
  node.className = "message" + (message.visible_to ? " ephemeral" : "");
  node.dataset.id = message.id;
  node.dataset.ts = message.ts;
  const avatar = el(
    "div",
    "avatar " + (message.bot ? "bot" : message.user === "USLACKBOT" ? "slackbot" : "person"),
    authorName(message).slice(0, 1).toUpperCase(),
  );
  const body = el("div", "body");
  if (message.note) body.appendChild(el("div", "note", message.note));
  if (message.visible_to) body.appendChild(el("div", "only-you", "Only visible to you"));
  const meta = el("div", "meta");
  meta.appendChild(el("span", "author", authorName(message)));
  if (message.bot) meta.appendChild(el("span", "app-tag", "APP"));
  meta.appendChild(el("span", "time", new Date(parseFloat(message.ts) * 1000).toLocaleTimeString()));
  if (message.edited) meta.appendChild(el("span", "edited", "(edited)"));
  body.appendChild(meta);
  const content = el("div", "content");
  if (Array.isArray(message.blocks) && message.blocks.length) {
    message.blocks.forEach((item) => content.appendChild(block(message, item)));
  } else {
    content.appendChild(mrkdwn(message.text || ""));
  }
  body.appendChild(content);
  const thread = node.querySelector(":scope > .body > .thread") || el("div", "thread");
  body.appendChild(thread);
  if (!message.thread_ts && !message.visible_to && state.channels.get(message.channel)?.kind === "channel") {
    const reply = el("button", "thread-link", "Reply in thread");
    reply.type = "button";
    reply.addEventListener("click", () => startThread(message.ts));
    body.appendChild(reply);
  }
  node.replaceChildren(avatar, body);
}

function isReply(message) {
  return message.thread_ts && message.thread_ts !== message.ts;
}

function containerFor(message) {
  const list = document.getElementById("messages");
  if (!isReply(message)) return list;
  const parent = list.querySelector(`.message[data-ts="${CSS.escape(message.thread_ts)}"]`);
  return parent ? parent.querySelector(":scope > .body > .thread") : list;
}

function place(message) {
  // Insert or update one message in place (the same node: an edit never moves or recreates it).
  if (message.channel !== state.channel) return;
  const list = document.getElementById("messages");
  let node = list.querySelector(`.message[data-id="${CSS.escape(message.id)}"]`);
  if (!visible(message)) {
    if (node) node.remove();
    return;
  }
  if (node) {
    fillMessage(node, message);
    return;
  }
  node = el("div");
  fillMessage(node, message);
  const container = containerFor(message);
  const after = [...container.children].find((other) => parseFloat(other.dataset.ts) > parseFloat(message.ts));
  container.insertBefore(node, after || null);
  list.scrollTop = list.scrollHeight;
}

function renderChannel() {
  const list = document.getElementById("messages");
  list.replaceChildren();
  const channel = state.channels.get(state.channel);
  document.getElementById("channel-header").textContent = channel
    ? channel.kind === "dm" ? "opsbot (direct messages)" : "#" + channel.name
    : "";
  const mine = [...state.messages.values()].filter((m) => m.channel === state.channel);
  mine.sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
  mine.filter((m) => !isReply(m)).forEach(place);
  mine.filter(isReply).forEach(place);
  state.unread.set(state.channel, 0);
  renderComposer(channel);
  renderSidebar();
}

// The app's Messages tab is read-only (the manifest): Slack's composer there is off and says so.
function renderComposer(channel) {
  const input = document.getElementById("composer-input");
  const off = Boolean(channel && channel.kind === "dm" && state.dmReadOnly);
  input.disabled = off;
  document.getElementById("composer-send").disabled = off;
  if (!input.dataset.placeholder) input.dataset.placeholder = input.placeholder;
  input.placeholder = off ? state.dmReadOnly : input.dataset.placeholder;
}

function renderSidebar() {
  const channels = document.getElementById("channel-list");
  const dms = document.getElementById("dm-list");
  channels.replaceChildren();
  dms.replaceChildren();
  for (const channel of state.channels.values()) {
    if (channel.kind === "dm" && channel.user !== state.me) continue;
    const item = el("li", channel.id === state.channel ? "active" : "", channel.kind === "dm" ? "opsbot" : "# " + channel.name);
    item.dataset.channel = channel.id;
    const unread = state.unread.get(channel.id) || 0;
    if (unread) item.appendChild(el("span", "badge", String(unread)));
    item.addEventListener("click", () => selectChannel(channel.id));
    (channel.kind === "dm" ? dms : channels).appendChild(item);
  }
  const user = state.users.get(state.me);
  document.getElementById("user-title").textContent = user ? user.title : "";
}

function selectChannel(id) {
  state.channel = id;
  state.threadTs = null;
  document.getElementById("thread-banner").hidden = true;
  localStorage.setItem("opsbot.channel", id);
  renderChannel();
}

function selectUser(id) {
  state.me = id;
  localStorage.setItem("opsbot.user", id);
  const channel = state.channels.get(state.channel);
  if (channel && channel.kind === "dm") state.channel = [...state.channels.values()].find((c) => c.kind === "channel").id;
  renderChannel();
}

function startThread(ts) {
  state.threadTs = ts;
  document.getElementById("thread-banner").hidden = false;
  document.getElementById("composer-input").focus();
}

function upsert(message) {
  const fresh = !state.messages.has(message.id);
  state.messages.set(message.id, message);
  if (fresh && message.channel !== state.channel && visible(message)) {
    state.unread.set(message.channel, (state.unread.get(message.channel) || 0) + 1);
    renderSidebar();
  }
  place(message);
}

// -- sending ------------------------------------------------------------------------------------

async function postJson(path, payload) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  const answer = await response.json().catch(() => ({ ok: false, error: `HTTP ${response.status}` }));
  if (!answer.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

function showError(text) {
  document.getElementById("composer-error").textContent = text;
}

async function send(event) {
  event.preventDefault();
  const input = document.getElementById("composer-input");
  const text = input.value.trim();
  if (!text) return;
  showError("");
  input.value = "";
  try {
    await postJson("/api/send", { user: state.me, channel: state.channel, text, thread_ts: state.threadTs });
  } catch (error) {
    input.value = text;
    showError(error.message);
  }
}

async function act(control, message, blockId, actionId, selected) {
  control.disabled = true;
  showError("");
  try {
    await postJson("/api/action", { user: state.me, message: message.id, block_id: blockId, action_id: actionId, selected });
  } catch (error) {
    showError(error.message);
  } finally {
    control.disabled = false;
  }
}

// -- start --------------------------------------------------------------------------------------

function addChannel(channel) {
  if (!state.channels.has(channel.id)) {
    state.channels.set(channel.id, channel);
    renderSidebar();
  }
}

async function start() {
  const answer = await (await fetch("/api/state")).json();
  state.bot = answer.bot;
  state.groups = answer.groups || {};
  state.dmReadOnly = answer.dm_read_only || null;
  answer.users.forEach((user) => state.users.set(user.id, user));
  answer.channels.forEach((channel) => state.channels.set(channel.id, channel));
  const picker = document.getElementById("user-picker");
  for (const user of answer.users) {
    const option = el("option", "", user.name);
    option.value = user.id;
    picker.appendChild(option);
  }
  const savedUser = localStorage.getItem("opsbot.user");
  state.me = state.users.has(savedUser) ? savedUser : answer.users[0].id;
  picker.value = state.me;
  picker.addEventListener("change", () => selectUser(picker.value));
  const savedChannel = localStorage.getItem("opsbot.channel");
  state.channel = state.channels.has(savedChannel) ? savedChannel : answer.channels[0].id;
  document.getElementById("composer").addEventListener("submit", send);
  document.getElementById("thread-cancel").addEventListener("click", () => {
    state.threadTs = null;
    document.getElementById("thread-banner").hidden = true;
  });
  renderChannel();
  const status = document.getElementById("connection");
  const events = new EventSource("/events");
  events.addEventListener("message", (event) => upsert(JSON.parse(event.data).message));
  events.addEventListener("channel", (event) => addChannel(JSON.parse(event.data).channel));
  events.addEventListener("open", () => {
    status.textContent = "\u25CF live";
    document.body.dataset.ready = "1";
  });
  events.addEventListener("error", () => {
    status.textContent = "reconnecting\u2026";
  });
}

start();

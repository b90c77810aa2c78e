/*
 * Telegram's HTML formatting, rendered safely.
 *
 * parse() turns the bot's HTML into a tree of strings and nodes {tag, href, children} where tag
 * is one of TAGS' values; anything else in the source (unknown tags, attributes, malformed
 * markup) stays text. build() makes DOM nodes from that tree with createElement, createTextNode
 * and setAttribute only, so no markup from the bot is ever parsed by the browser.
 * Pure functions: the page loads this file as a script, the tests load it in Node.
 */
(function (factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    globalThis.TelegramHtml = api;
  }
})(function () {
  "use strict";

  const TAGS = {
    b: "b",
    strong: "b",
    i: "i",
    em: "i",
    u: "u",
    ins: "u",
    s: "s",
    strike: "s",
    del: "s",
    code: "code",
    pre: "pre",
    a: "a",
    blockquote: "blockquote",
    "tg-spoiler": "spoiler",
    span: "spoiler",
    "tg-emoji": "emoji",
  };
  const ELEMENTS = {
    b: "b",
    i: "i",
    u: "u",
    s: "s",
    code: "code",
    pre: "pre",
    a: "a",
    blockquote: "blockquote",
    spoiler: "span",
    emoji: "span",
  };
  const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(\/?)>/y;
  const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9A-Fa-f]{1,6})|(lt|gt|amp|quot));/g;
  const NAMED = { lt: "<", gt: ">", amp: "&", quot: '"' };
  const SAFE_URL = /^(?:https?|tg):/i;

  function decode(text) {
    return text.replace(ENTITY, function (whole, dec, hex, name) {
      if (name) return NAMED[name];
      const code = dec ? parseInt(dec, 10) : parseInt(hex, 16);
      const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
      return valid ? String.fromCodePoint(code) : whole;
    });
  }

  function attributes(source) {
    const found = {};
    ATTRIBUTE.lastIndex = 0;
    let match;
    while ((match = ATTRIBUTE.exec(source)) !== null) {
      const value = match[2] ?? match[3] ?? match[4] ?? "";
      found[match[1].toLowerCase()] = decode(value);
    }
    return found;
  }

  /** The URL itself when a link may point to it (http, https, tg), else null. */
  function safeHref(url) {
    if (typeof url !== "string") return null;
    const trimmed = url.trim();
    return SAFE_URL.test(trimmed) && !/[\u0000-\u001f\u007f\s]/.test(trimmed) ? trimmed : null;
  }

  function openingNode(name, attributeSource) {
    const tag = TAGS[name];
    const attrs = attributes(attributeSource);
    if (name === "span" && attrs["class"] !== "tg-spoiler") return null;
    const node = { tag: tag, children: [] };
    if (tag === "a") node.href = safeHref(attrs.href);
    return node;
  }

  /** The bot's HTML as a tree of strings and {tag, href?, children} nodes. */
  function parse(source) {
    const root = { tag: null, children: [] };
    const stack = [{ node: root, name: null }];
    let text = "";
    let index = 0;
    const flush = function () {
      if (text) stack[stack.length - 1].node.children.push(decode(text));
      text = "";
    };
    while (index < source.length) {
      const open = source.indexOf("<", index);
      if (open < 0) {
        text += source.slice(index);
        break;
      }
      text += source.slice(index, open);
      TAG.lastIndex = open;
      const match = TAG.exec(source);
      const name = match ? match[2].toLowerCase() : null;
      let handled = false;
      if (match && Object.prototype.hasOwnProperty.call(TAGS, name)) {
        if (match[1]) {
          let depth = stack.length - 1;
          while (depth > 0 && TAGS[stack[depth].name] !== TAGS[name]) depth -= 1;
          if (depth > 0) {
            flush();
            stack.length = depth;
            handled = true;
          }
        } else {
          const node = openingNode(name, match[3]);
          if (node) {
            flush();
            stack[stack.length - 1].node.children.push(node);
            if (!match[4]) stack.push({ node: node, name: name });
            handled = true;
          }
        }
      }
      if (handled) {
        index = TAG.lastIndex;
      } else {
        text += "<";
        index = open + 1;
      }
    }
    flush();
    return root.children;
  }

  /** Append the tree's DOM to parent; doc needs createElement and createTextNode only. */
  function build(nodes, doc, parent) {
    for (const node of nodes) {
      if (typeof node === "string") {
        parent.appendChild(doc.createTextNode(node));
        continue;
      }
      const element = doc.createElement(ELEMENTS[node.tag]);
      if (node.tag === "spoiler") element.setAttribute("class", "tg-spoiler");
      if (node.tag === "a" && node.href) {
        element.setAttribute("href", node.href);
        element.setAttribute("target", "_blank");
        element.setAttribute("rel", "noopener noreferrer");
      }
      build(node.children, doc, element);
      parent.appendChild(element);
    }
    return parent;
  }

  function render(source, doc, parent) {
    return build(parse(source), doc, parent);
  }

  return { parse: parse, build: build, render: render, safeHref: safeHref };
});

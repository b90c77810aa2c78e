// The web chat's Telegram-HTML renderer (sandbox/webchat/static/html.js), run in Node against a
// recording fake document: whatever the bot sends, only whitelisted elements and attributes are
// created, links keep only http(s)/tg targets, and everything else arrives as text.
// Run by tests/integration/test_webchat.py (`node --test`).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const TelegramHtml = require(path.join(__dirname, "..", "..", "sandbox", "webchat", "static", "html.js"));

const ELEMENTS = new Set(["b", "i", "u", "s", "code", "pre", "a", "blockquote", "span"]);
const ATTRIBUTES = new Set(["href", "target", "rel", "class"]);

function fakeDocument() {
  const created = [];
  const doc = {
    created,
    createElement(tag) {
      const node = {
        tag,
        attributes: new Map(),
        children: [],
        setAttribute(name, value) {
          this.attributes.set(name, String(value));
        },
        appendChild(child) {
          this.children.push(child);
          return child;
        },
      };
      created.push(node);
      return node;
    },
    createTextNode(text) {
      return { text: String(text) };
    },
  };
  return doc;
}

function escape(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function serialize(node) {
  if (node.text !== undefined) return escape(node.text);
  const attributes = [...node.attributes.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ` ${name}="${escape(value)}"`)
    .join("");
  return `<${node.tag}${attributes}>${node.children.map(serialize).join("")}</${node.tag}>`;
}

function render(source) {
  const doc = fakeDocument();
  const root = doc.createElement("root");
  doc.created.length = 0;
  TelegramHtml.render(source, doc, root);
  return { html: root.children.map(serialize).join(""), created: doc.created, root };
}

function textOf(node) {
  return node.text !== undefined ? node.text : node.children.map(textOf).join("");
}

const LINK = ' rel="noopener noreferrer" target="_blank"';

test("formatting tags become their elements", () => {
  assert.equal(render("<b>b</b><strong>s</strong>").html, "<b>b</b><b>s</b>");
  assert.equal(render("<i>i</i><em>e</em><u>u</u><ins>n</ins>").html, "<i>i</i><i>e</i><u>u</u><u>n</u>");
  assert.equal(render("<s>1</s><strike>2</strike><del>3</del>").html, "<s>1</s><s>2</s><s>3</s>");
  assert.equal(render("<B>upper</B>").html, "<b>upper</b>");
  assert.equal(
    render('<pre><code class="language-python">x = 1</code></pre>').html,
    "<pre><code>x = 1</code></pre>",
  );
  assert.equal(render("<blockquote expandable>q</blockquote>").html, "<blockquote>q</blockquote>");
  assert.equal(render("<b>a <i>b</i> c</b>").html, "<b>a <i>b</i> c</b>");
});

test("a script is shown as text next to the bold text", () => {
  const { html, created } = render("<b>x</b><script>alert(1)</script>");
  assert.equal(html, "<b>x</b>&lt;script&gt;alert(1)&lt;/script&gt;");
  assert.deepEqual(created.map((node) => node.tag), ["b"]);
});

test("unknown tags and their attributes stay text", () => {
  assert.equal(
    render('<img src=x onerror="alert(1)">').html,
    "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;",
  );
  assert.equal(render("<iframe></iframe>").html, "&lt;iframe&gt;&lt;/iframe&gt;");
  assert.equal(render('<span style="color:red">s</span>').html, "&lt;span style=&quot;color:red&quot;&gt;s&lt;/span&gt;");
  assert.equal(render("1 < 2 > 0").html, "1 &lt; 2 &gt; 0");
});

test("attributes other than a link's target are dropped", () => {
  assert.equal(render('<b onclick="alert(1)" style="x">y</b>').html, "<b>y</b>");
  assert.equal(render('<a href="https://example.org" onclick="x">y</a>').html, `<a href="https://example.org"${LINK}>y</a>`);
});

test("links keep only http, https and tg targets", () => {
  assert.equal(render('<a href="javascript:alert(1)">x</a>').html, "<a>x</a>");
  assert.equal(render('<a href=" JaVaScRiPt:alert(1)">x</a>').html, "<a>x</a>");
  assert.equal(render('<a href="java&#9;script:alert(1)">x</a>').html, "<a>x</a>");
  assert.equal(render('<a href="data:text/html,<b>">x</a>').html, "<a>x</a>");
  assert.equal(render('<a href="/relative">x</a>').html, "<a>x</a>");
  assert.equal(render("<a>x</a>").html, "<a>x</a>");
  assert.equal(render('<a href="tg://user?id=42">x</a>').html, `<a href="tg://user?id=42"${LINK}>x</a>`);
  assert.equal(
    render("<a href='http://127.0.0.1:8080/pay?a=1&amp;b=2'>pay</a>").html,
    `<a href="http://127.0.0.1:8080/pay?a=1&amp;b=2"${LINK}>pay</a>`,
  );
  assert.equal(TelegramHtml.safeHref("https://x.test/a"), "https://x.test/a");
  assert.equal(TelegramHtml.safeHref("vbscript:x"), null);
  assert.equal(TelegramHtml.safeHref(undefined), null);
});

test("spoilers and custom emoji", () => {
  assert.equal(render("<tg-spoiler>s</tg-spoiler>").html, '<span class="tg-spoiler">s</span>');
  assert.equal(render('<span class="tg-spoiler">s</span>').html, '<span class="tg-spoiler">s</span>');
  assert.equal(render('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>').html, "<span>👍</span>");
});

test("entities are decoded into text, never into markup", () => {
  const { html, created } = render("&lt;b&gt;not bold&lt;/b&gt; &amp; &quot;q&quot; &#128512; &#x1F600;");
  assert.equal(created.length, 0);
  assert.equal(html, "&lt;b&gt;not bold&lt;/b&gt; &amp; &quot;q&quot; 😀 😀");
  assert.equal(render("&#x110000; &#0; &#xD800; &nbsp;").html, "&amp;#x110000; &amp;#0; &amp;#xD800; &amp;nbsp;");
});

test("malformed nesting is repaired, stray closing tags are text", () => {
  assert.equal(render("<b>open").html, "<b>open</b>");
  assert.equal(render("<b><i>x</b>y").html, "<b><i>x</i></b>y");
  assert.equal(render("x</i>y").html, "x&lt;/i&gt;y");
  assert.equal(render("<b>x</b/>").html, "<b>x</b>");
});

test("line breaks and spaces are kept as text", () => {
  assert.equal(render("a\n\n<b>b</b>\n  c").html, "a\n\n<b>b</b>\n  c");
});

test("random input only ever creates whitelisted elements, attributes and links", () => {
  const pieces = [
    "<", ">", "/", "=", '"', "'", "&", "#", ";", " ", "\n", "x", "b", "a", "i", "span", "script",
    "href", "class", "tg-spoiler", "javascript:", "https:", "onclick", "<a href=", "<b>", "</b>",
    "<a href=\"javascript:alert(1)\">", "&lt;", "&#60;", "<img src=x onerror=alert(1)>", "</a>",
    "<span class=\"tg-spoiler\">", "<pre>", "</pre>", "<code>", "<tg-emoji>", "<svg onload=1>",
  ];
  let seed = 20240607;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let round = 0; round < 3000; round += 1) {
    let source = "";
    const length = Math.floor(random() * 24);
    for (let k = 0; k < length; k += 1) source += pieces[Math.floor(random() * pieces.length)];
    const { created, root } = render(source);
    for (const node of created) {
      assert.ok(ELEMENTS.has(node.tag), `element ${node.tag} from ${JSON.stringify(source)}`);
      for (const [name, value] of node.attributes) {
        assert.ok(ATTRIBUTES.has(name), `attribute ${name} from ${JSON.stringify(source)}`);
        if (name === "href") assert.match(value, /^(https?|tg):/i);
        if (name === "class") assert.equal(value, "tg-spoiler");
      }
      if (node.attributes.has("href")) assert.equal(node.tag, "a");
    }
    assert.equal(typeof textOf(root), "string");
  }
});

// driver.mjs drives one headless Chromium for the Go browser tests with
// playwright-core (no browser download: it runs the chromium named by
// $CHROMIUM). It reads one JSON command per line on stdin and answers each
// with one JSON line on stdout: {id, ok, value} or {id, ok: false, error}.
// Page console lines and errors go to stderr, prefixed with the page name.
//
// Commands (page: a name the test chooses; frame: a URL substring picks a
// frame of that page instead of its main frame):
//   open {page, url, width?, height?, init?, delay?}
//                                       a page in its own browser context;
//                                       init: a script run before the page's
//                                       own in every document; delay: {URL
//                                       prefix: ms} holds back each request
//                                       of this page that starts with the
//                                       prefix (a page far from that host)
//   goto|reload {page, url?}
//   eval {page, frame?, js}             value of the expression js (awaited)
//   wait {page, frame?, js, timeout}    until js is truthy; its value
//   click|hover {page, frame?, selector}
//   fill {page, frame?, selector, text}
//   press {page, frame?, selector, key}
//   viewport {page, width, height}
//   screenshot {page, path}
//   frames {page}                       the URLs of the page's frames
//   close {page}
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || 'chromium',
  headless: true,
  args: JSON.parse(process.env.CHROMIUM_ARGS || '[]'),
});
const pages = new Map();

function target(cmd) {
  const p = pages.get(cmd.page);
  if (!p) throw new Error(`no page ${cmd.page}`);
  if (!cmd.frame) return p;
  const f = p.frames().find((fr) => fr.url().includes(cmd.frame));
  if (!f) throw new Error(`page ${cmd.page} has no frame ${cmd.frame}`);
  return f;
}

const ops = {
  async open(c) {
    const ctx = await browser.newContext({ viewport: { width: c.width || 1280, height: c.height || 800 } });
    if (c.init) await ctx.addInitScript(c.init);
    for (const [prefix, ms] of Object.entries(c.delay || {})) {
      await ctx.route(
        (u) => u.href.startsWith(prefix),
        async (route) => {
          await new Promise((r) => setTimeout(r, ms));
          await route.continue();
        },
      );
    }
    const page = await ctx.newPage();
    page.on('console', (m) => process.stderr.write(`${c.page}: console.${m.type()}: ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`${c.page}: pageerror: ${e.stack || e}\n`));
    pages.set(c.page, page);
    await page.goto(c.url);
    return null;
  },
  async goto(c) {
    await target(c).goto(c.url);
    return null;
  },
  async reload(c) {
    await pages.get(c.page).reload();
    return null;
  },
  async eval(c) {
    return await target(c).evaluate(c.js);
  },
  async wait(c) {
    const h = await target(c).waitForFunction(c.js, null, { timeout: c.timeout || 30000, polling: 200 });
    return await h.jsonValue();
  },
  async click(c) {
    await target(c).click(c.selector, { timeout: 10000 });
    return null;
  },
  async hover(c) {
    await target(c).hover(c.selector, { timeout: 10000 });
    return null;
  },
  async fill(c) {
    await target(c).fill(c.selector, c.text, { timeout: 10000 });
    return null;
  },
  async press(c) {
    await target(c).press(c.selector, c.key, { timeout: 10000 });
    return null;
  },
  async viewport(c) {
    await pages.get(c.page).setViewportSize({ width: c.width, height: c.height });
    return null;
  },
  async screenshot(c) {
    await pages.get(c.page).screenshot({ path: c.path, animations: 'disabled', caret: 'hide' });
    return null;
  },
  async frames(c) {
    return pages.get(c.page).frames().map((f) => f.url());
  },
  async close(c) {
    const p = pages.get(c.page);
    pages.delete(c.page);
    if (p) await p.context().close();
    return null;
  },
};

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
for await (const line of createInterface({ input: process.stdin })) {
  let c;
  try {
    c = JSON.parse(line);
    const fn = ops[c.op];
    if (!fn) throw new Error(`unknown op ${c.op}`);
    out({ id: c.id, ok: true, value: (await fn(c)) ?? null });
  } catch (e) {
    out({ id: c && c.id, ok: false, error: String((e && e.message) || e) });
  }
}
await browser.close();

// What the browser suites share: waiting for a condition, and a page logged in with a token.

/** How long a step may take. */
export const WAIT = 15_000;

/** Polls `fn` until it returns a truthy value. */
export async function until(what, fn, timeout = WAIT) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** A fresh browser context (its own storage) of `browser` logged in at `base` with `token`, landing on `hash`. */
export async function loggedIn(browser, base, token, hash, viewport = { width: 1400, height: 900 }) {
  const ctx = await browser.newContext({ viewport, locale: "ru-RU" });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  page.on("console", (m) => m.type() === "error" && console.error(`[console] ${m.text()}`));
  await page.goto(`${base}/#/login`);
  await page.fill("textarea[name=token]", token);
  await page.click("button[type=submit]");
  await page.waitForURL((u) => u.hash === hash, { timeout: WAIT });
  return page;
}

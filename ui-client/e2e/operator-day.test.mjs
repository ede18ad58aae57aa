// The operator's working day in a real browser against a real demo server:
// who is calling (caller panel, search, screen pop), the request page and
// its actions, the callback worklist, card entry that does not mislead, and
// words, keyboard and small screens. One `describe` per section of the
// working day; screenshots go to docs/screenshots for the README.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { gql, root, startServer } from "./server.mjs";
import { launch } from "./browser.mjs";
import { loggedIn as login, until, WAIT } from "./helpers.mjs";

const SHOTS = join(root, "docs", "screenshots");
const OUT = join(root, "ui-client", "e2e", "out");
const PBX_SECRET = "pbx-secret-pbx-secret-pbx-secret-0123";
const CALLER = { typed: "8 (856) 555-12-34", stored: "+78565551234", local: "555-12-34" };
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let server;
let browser;
/** A page logged in with `token` on the test's server. */
const loggedIn = (token, hash, viewport) => login(browser, server.base, token, hash, viewport);
const pages = {};
const state = {};

/** Serious and critical accessibility violations axe-core finds on the page. */
async function axeViolations(page) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Registers a card through the API (another operator's call earlier in the day). */
async function register(input) {
  const { registerRequest } = await gql(
    server.base,
    server.tokens.OPERATOR,
    `mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number version organization { id } } }`,
    { input },
  );
  return registerRequest;
}

describe("the operator's working day", { concurrency: false }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer(
      {
        KONTAKT__MAP__TILE_URL: "http://127.0.0.1:9/{z}/{x}/{y}.png",
        KONTAKT__TELEPHONY__SECRET: PBX_SECRET,
        // No dialer: resolved requests with consent wait for a person to call.
        KONTAKT__CALLBACKS__DIALER__KIND: "none",
        KONTAKT__CALLBACKS__CALLING_HOURS: "00:00-24:00",
        KONTAKT__JOBS__CALLBACKS: "*/1 * * * * *",
      },
      ["--demo-days", "3"],
    );
    browser = await launch();
    const { addresses } = await gql(server.base, server.tokens.OPERATOR, `query { addresses(search: "Пушкинская 1", first: 3) { id label district } }`);
    state.address = addresses[0];
    state.earlier = await register({
      addressId: state.address.id,
      categoryCode: "roof-leak",
      description: "Течёт крыша над кухней, вода капает с потолка",
      applicant: { name: "Сидоренко Анна", phone: CALLER.local, callbackConsent: true },
    });
  });

  afterEach(async () => {
    mkdirSync(OUT, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      await page.screenshot({ path: join(OUT, `day-${name}.png`), fullPage: true }).catch(() => {});
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  describe("1. who is calling", () => {
    it("the caller's phone, typed in another form, shows their requests before the card is filled", async () => {
      const page = await loggedIn(server.tokens.OPERATOR, "#/operator");
      pages.operator = page;
      // The phone field has the focus after login.
      assert.equal(await page.evaluate(() => document.activeElement?.id), "phone");
      await page.keyboard.type(CALLER.typed);
      const row = page.locator(`[data-testid=caller-requests] tr[data-number="${state.earlier.number}"]`);
      await row.waitFor({ timeout: WAIT });
      const text = await row.innerText();
      assert.match(text, /Протекает кровля/);
      assert.match(text, /направлена|зарегистрирована/);
      assert.match(text, /\d\d:\d\d:\d\d|\d+ д \d\d ч/, `time left is shown: ${text}`);
      await page.screenshot({ path: join(SHOTS, "caller-panel.png") });
    });

    it("search finds a request by number, by phone, by address and by words of the description", async () => {
      const page = pages.operator;
      await page.click("nav a[href='#/search']");
      for (const q of [CALLER.stored, "крыша кухн", state.address.label.replace(/^ул\.\s*/, "")]) {
        await page.fill("#search-q", q);
        await page.keyboard.press("Enter");
        await page.locator(`[data-testid=search-results] tr[data-number="${state.earlier.number}"]`).waitFor({ timeout: WAIT });
      }
      assert.match(await page.locator("[data-testid=search-count]").innerText(), /^\d+ заяв(ка|ки|ок)/);
      await page.fill("#search-q", "жираф в подъезде");
      await page.keyboard.press("Enter");
      await page.locator("[data-testid=search-none]").waitFor({ timeout: WAIT });
      // A number opens the request's page at once.
      await page.fill("#search-q", state.earlier.number);
      await page.keyboard.press("Enter");
      await page.waitForURL((u) => u.hash === `#/request/${state.earlier.id}`, { timeout: WAIT });
      await page.locator("[data-testid=rq-number]").getByText(state.earlier.number).waitFor({ timeout: WAIT });
    });

    it("a call reported by the PBX opens the caller's panel at that operator's console", async () => {
      const page = pages.operator;
      await page.goto(`${server.base}/#/callbacks`);
      await page.locator("h1").first().waitFor({ timeout: WAIT });
      const res = await fetch(`${server.base}/telephony/incoming`, {
        method: "POST",
        headers: { authorization: `Bearer ${PBX_SECRET}`, "content-type": "application/x-www-form-urlencoded" },
        body: `caller_id=${encodeURIComponent("88565551234")}&extension=101`,
      });
      assert.equal(res.status, 202, await res.text());
      await page.waitForURL((u) => u.hash === "#/operator", { timeout: WAIT });
      await until("the phone is filled", async () => (await page.inputValue("#phone")) !== "");
      await page.locator(`[data-testid=caller-requests] tr[data-number="${state.earlier.number}"]`).waitFor({ timeout: WAIT });
    });
  });

  describe("2. the request page", () => {
    it("shows every field, the timeline, the status answer and only the actions allowed now", async () => {
      const page = pages.operator;
      await page.goto(`${server.base}/#/request/${state.earlier.id}`);
      await page.locator("[data-testid=timeline] li").first().waitFor({ timeout: WAIT });
      const kinds = await page.locator("[data-testid=timeline] li").evaluateAll((ls) => ls.map((l) => l.dataset.kind));
      assert.deepEqual(kinds.slice(0, 2), ["REGISTERED", "DISPATCHED"]);
      const timeline = await page.locator("[data-testid=timeline]").innerText();
      assert.match(timeline, /оператор/, "the actor's role in words");
      const script = await page.locator("[data-testid=status-script]").innerText();
      assert.ok(script.includes(state.earlier.number), `the answer names the number: ${script}`);
      assert.match(script, /срок/);
      assert.match(await page.locator("[data-testid=rq-applicant]").innerText(), /\+78565551234/);
      // The organization was told of the dispatch; the page says whether it reached it.
      const notice = await page.locator("[data-testid=notices] li").first().innerText();
      assert.match(notice, /направлена → .+ · (ожидает отправки|нет канала доставки|доставлено)/);
      const offered = await page.locator("[data-testid=actions] button").evaluateAll((bs) => bs.map((b) => b.dataset.action));
      const { request } = await gql(server.base, server.tokens.OPERATOR, `query($id: ID!) { request(id: $id) { allowedActions } }`, {
        id: state.earlier.id,
      });
      assert.deepEqual(offered, request.allowedActions, "the page offers exactly what the server allows");
      for (const never of ["ACCEPT", "RESOLVE", "REJECT", "CLOSE", "REOPEN"]) assert.ok(!offered.includes(never), `an operator is not offered ${never}`);
    });
  });

  describe("3. acting on a request", () => {
    it("adds a note, raises to emergency, corrects the card and refuses a one-word cancellation", async () => {
      const page = pages.operator;
      const act = async (action) => {
        await page.click(`[data-testid=actions] button[data-action=${action}]`);
        await page.locator(`[data-testid=action-form][data-action=${action}]`).waitFor({ timeout: WAIT });
      };
      await act("ADD_NOTE");
      await page.fill("#action-text", "Заявительница звонила повторно: течёт сильнее, залило розетку");
      await page.click("[data-testid=action-submit]");
      await page.locator("[data-testid=timeline] li[data-kind=NOTE_ADDED]").getByText("залило розетку").waitFor({ timeout: WAIT });

      await act("RAISE_TO_EMERGENCY");
      await page.fill("#action-text", "Вода попала в электропроводку");
      await page.click("[data-testid=action-submit]");
      await page.locator("[data-testid=rq-category]").getByText("аварийная (6 ч)").waitFor({ timeout: WAIT });

      await act("CORRECT");
      await page.fill("#correct-description", "Течёт крыша над кухней и в коридоре, вода капает с потолка");
      await page.fill("#action-text", "Заявительница уточнила место протечки");
      await page.click("[data-testid=action-submit]");
      await page.locator("[data-testid=timeline] li[data-kind=CORRECTED]").waitFor({ timeout: WAIT });
      assert.match(await page.locator("[data-testid=rq-description]").innerText(), /в коридоре/);

      await act("CANCEL");
      await page.fill("#action-text", "дубль");
      await page.click("[data-testid=action-submit]");
      await page.locator("#action-problem").getByText("не меньше 10 символов").waitFor({ timeout: WAIT });
      const { request } = await gql(server.base, server.tokens.OPERATOR, `query($id: ID!) { request(id: $id) { status } }`, { id: state.earlier.id });
      assert.notEqual(request.status, "CANCELLED", "nothing was sent");
      await page.click("[data-testid=action-form] button.secondary");
      await page.screenshot({ path: join(SHOTS, "request-page.png"), fullPage: true });
    });

    it("a change made elsewhere meanwhile is said in Russian, and the page reloads", async () => {
      const page = pages.operator;
      // Someone else adds a note while this page shows the older version.
      await gql(server.base, server.tokens.SUPERVISOR, `mutation($id: ID!) { addNote(id: $id, note: "Диспетчер: бригада выехала") { version } }`, {
        id: state.earlier.id,
      });
      await page.click("[data-testid=actions] button[data-action=ADD_NOTE]");
      await page.fill("#action-text", "Ещё одно примечание");
      await page.click("[data-testid=action-submit]");
      const error = await page.locator("[data-testid=error]").innerText({ timeout: WAIT });
      assert.match(error, /изменил кто-то другой/);
      assert.ok(!/[A-Za-z]{4,}/.test(error), `no English in the Russian page: ${error}`);
      await page.locator("[data-testid=timeline]").getByText("бригада выехала").waitFor({ timeout: WAIT });
    });
  });

  describe("3. another caller, same problem", () => {
    it("the duplicate hint attaches the caller to the open request instead of a new card", async () => {
      const page = pages.operator;
      await page.goto(`${server.base}/#/operator`);
      await page.fill("#phone", "8 856 412-33-44");
      await page.fill("#name", "Сосед Петров");
      await page.check("#consent");
      await page.fill("#address", state.address.label.replace(/^ул\.\s*/, ""));
      await page.locator("#address-list li").first().waitFor({ timeout: WAIT });
      await page.keyboard.press("Enter");
      const dup = page.locator("[data-testid=duplicates] li").filter({ hasText: state.earlier.number });
      await dup.waitFor({ timeout: WAIT });
      await dup.locator("[data-testid=attach]").click();
      await page.locator("[data-testid=attached]").getByText(state.earlier.number).waitFor({ timeout: WAIT });
      assert.equal(await page.inputValue("#phone"), "", "a fresh card for the next call");
      const { request } = await gql(
        server.base,
        server.tokens.OPERATOR,
        `query($id: ID!) { request(id: $id) { coApplicants { name phone callbackConsent } history { kind } } }`,
        { id: state.earlier.id },
      );
      assert.deepEqual(request.coApplicants, [{ name: "Сосед Петров", phone: "+78564123344", callbackConsent: true }]);
      assert.ok(request.history.some((e) => e.kind === "APPLICANT_ADDED"));
      // The attached caller's phone finds the request too.
      await page.fill("#phone", "412-33-44");
      await page.locator(`[data-testid=caller-requests] tr[data-number="${state.earlier.number}"]`).waitFor({ timeout: WAIT });
      await page.goto(`${server.base}/#/request/${state.earlier.id}`);
      await page.locator("[data-testid=rq-co-applicants]").getByText("Сосед Петров").waitFor({ timeout: WAIT });
    });
  });

  describe("4. an address not in the registry", () => {
    it("registers with the caller's words and a district; an admin adds the building and attaches it", async () => {
      const page = pages.operator;
      await page.goto(`${server.base}/#/operator`);
      await page.fill("#phone", "8 856 412-55-66");
      await page.click("[data-testid=not-in-registry]");
      await page.fill("#freeText", "Садовый тупик, частный дом за школой");
      const district = await page.locator("#district option").nth(1).getAttribute("value");
      await page.selectOption("#district", district);
      await page.fill("#category", "яма");
      await page.locator("#category-list li").first().waitFor({ timeout: WAIT });
      await page.keyboard.press("Enter");
      await page.fill("#description", "Глубокая яма на проезде к дому");
      await page.locator("[data-testid=readback]").getByText("адрес не подтверждён").waitFor({ timeout: WAIT });
      await page.locator("[data-testid=readback]").getByText("Яма на дороге").waitFor({ timeout: WAIT });
      await page.keyboard.press("Control+Enter");
      await page.locator("[data-testid=registered]").waitFor({ timeout: WAIT }).catch(async (e) => {
        const said = await page.locator(".error").allInnerTexts();
        throw new Error(`${e.message}; the page says: ${said.join(" | ")}`);
      });
      assert.match(await page.locator("[data-testid=readout-address]").innerText(), /Садовый тупик.*адрес не подтверждён/s);
      const number = (await page.locator("[data-testid=number]").innerText()).trim();

      const admin = await loggedIn(server.tokens.ADMIN, "#/supervisor");
      await admin.goto(`${server.base}/#/addresses`);
      const item = admin.locator(`[data-testid=unconfirmed] li[data-number="${number}"]`);
      await until("the request is listed", async () => {
        if (await item.isVisible()) return true;
        const error = await admin.locator("[role=alert]").allInnerTexts();
        if (error.length) console.error(`[addresses] ${error.join(" ")}`);
        await admin.reload();
        return item.isVisible({ timeout: 2000 });
      }, 30_000);
      await item.getByRole("button", { name: "Внести новый дом" }).click();
      await item.locator("input[name=street]").fill("Садовый тупик");
      await item.locator("input[name=house]").fill("3");
      await admin.screenshot({ path: join(SHOTS, "addresses.png") });
      await item.getByRole("button", { name: "Внести и привязать" }).click();
      await admin.locator("[data-testid=notice]").getByText(number).waitFor({ timeout: WAIT });
      const { request } = await gql(server.base, server.tokens.ADMIN, `query($n: String!) { request(number: $n) { addressUnconfirmed address { label } } }`, {
        n: number,
      });
      assert.deepEqual(request, { addressUnconfirmed: false, address: { label: "Садовый тупик, 3" } });
      await admin.context().close();
    });
  });

  describe("5. the incident desk", () => {
    it("enters an incident by streets and house ranges, links the open requests there, edits and ends it", async () => {
      const page = pages.operator;
      await page.goto(`${server.base}/#/incidents`);
      await page.click("[data-testid=new-incident]");
      const form = page.locator("[data-testid=incident-form]");
      await form.waitFor({ timeout: WAIT });
      await page.fill("#inc-title", "Порыв водовода на Пушкинской");
      await page.selectOption("#inc-kind", "water");
      await page.fill("#inc-street-0", "Пушкинская");
      await page.fill("#inc-houses-0", "1-3 нечётные");
      // Three corners clicked on the map make a polygon too.
      const map = page.locator("[data-testid=incident-map]");
      await page.locator("[data-testid=incident-map].leaflet-container").waitFor({ timeout: WAIT });
      const box = await map.boundingBox();
      for (const [dx, dy] of [[0.3, 0.3], [0.7, 0.3], [0.5, 0.7]]) await page.mouse.click(box.x + box.width * dx, box.y + box.height * dy);
      await form.getByText("Углов: 3.").waitFor({ timeout: WAIT });
      await page.screenshot({ path: join(SHOTS, "incident-desk.png"), fullPage: true });
      await page.click("[data-testid=save-incident]");
      const item = page.locator("[data-testid=incident-list] li").filter({ hasText: "Порыв водовода на Пушкинской" });
      await item.waitFor({ timeout: WAIT });
      assert.match(await item.locator("[data-testid=area]").innerText(), /Пушкинская: 1–3 нечётные/);
      assert.match(await item.locator("[data-testid=source]").innerText(), /введена вручную/);

      const before = await gql(server.base, server.tokens.OPERATOR, `query($id: ID!) { request(id: $id) { organization { id } incident { id } } }`, {
        id: state.earlier.id,
      });
      await item.locator("[data-testid=link-covered]").click();
      await page.locator("[data-testid=notice]").getByText(/Привязано \d+ заяв(ка|ки|ок)/).waitFor({ timeout: WAIT });
      await item.locator(`[data-testid=linked-requests] tr[data-number="${state.earlier.number}"]`).waitFor({ timeout: WAIT });
      const after = await gql(server.base, server.tokens.OPERATOR, `query($id: ID!) { request(id: $id) { status organization { id } incident { id title } } }`, {
        id: state.earlier.id,
      });
      assert.equal(after.request.incident.title, "Порыв водовода на Пушкинской");
      assert.equal(after.request.organization.id, before.request.organization.id, "an operator's link moves nobody's request");

      await item.locator("[data-testid=edit]").click();
      await page.fill("#inc-title", "Порыв водовода на Пушкинской, 1");
      await page.click("[data-testid=save-incident]");
      const renamed = page.locator("[data-testid=incident-list] li").filter({ hasText: "Порыв водовода на Пушкинской, 1" });
      await renamed.waitFor({ timeout: WAIT });

      await renamed.locator("[data-testid=end]").click();
      await renamed.locator("input[name=resolution]").fill("Водовод заварен, вода подана");
      await renamed.getByRole("button", { name: "Завершить аварию" }).click();
      await renamed.waitFor({ state: "detached", timeout: WAIT });
      const ended = await gql(server.base, server.tokens.OPERATOR, `query($id: ID!) { request(id: $id) { status } }`, { id: state.earlier.id });
      assert.equal(ended.request.status, after.request.status, "an operator's ending resolves none of the linked requests");
    });
  });

  describe("6. the callback worklist", () => {
    it("a resolved request with no dialer waits for a person, who records the outcome", async () => {
      const mine = await register({
        addressId: state.address.id,
        categoryCode: "stairwell-lighting",
        description: "Нет света в третьем подъезде",
        applicant: { name: "Коваль Иван", phone: "8 856 412-00-77", callbackConsent: true },
      });
      const org = mine.organization.id;
      const contractor = server.tokens[org];
      assert.ok(contractor, `a demo token for ${org}`);
      await gql(server.base, contractor, `mutation($id: ID!) { acceptRequest(id: $id) { version } }`, { id: mine.id });
      await gql(server.base, contractor, `mutation($id: ID!) { resolveRequest(id: $id, resolution: "Заменены лампы в подъезде") { version } }`, {
        id: mine.id,
      });
      const page = pages.operator;
      await page.goto(`${server.base}/#/callbacks`);
      const item = page.locator(`[data-testid=worklist] li[data-number="${mine.number}"]`);
      await until("the task is in the worklist", async () => {
        await page.reload();
        return item.isVisible({ timeout: 2000 });
      }, 30_000);
      assert.match(await item.locator("[data-testid=wl-phone]").innerText(), /\+78564120077/);
      assert.match(await item.locator("[data-testid=wl-script]").innerText(), new RegExp(mine.number));
      assert.match(await item.locator("[data-testid=wl-when]").innerText(), /можно звонить/);
      await page.screenshot({ path: join(SHOTS, "worklist.png") });
      await item.locator("select[name=outcome]").selectOption("CONFIRMED");
      await item.locator("input[name=note]").fill("Подтвердил, свет есть");
      await item.getByRole("button", { name: "Записать" }).click();
      await page.locator("[data-testid=notice]").getByText(mine.number).waitFor({ timeout: WAIT });
      await item.waitFor({ state: "detached", timeout: WAIT });
      const { request } = await gql(server.base, server.tokens.OPERATOR, `query($id: ID!) { request(id: $id) { status } }`, { id: mine.id });
      assert.equal(request.status, "CLOSED");
    });
  });

  describe("7. card entry that does not mislead", () => {
    it("finds categories by the caller's own words and says when nothing matches", async () => {
      const page = pages.operator;
      await page.goto(`${server.base}/#/operator`);
      await page.fill("#category", "течёт крыша");
      const first = page.locator("#category-list li").first();
      await first.waitFor({ timeout: WAIT });
      assert.match(await first.innerText(), /Протекает кровля/);
      await page.fill("#category", "вода");
      await page.locator("#category-list li").first().waitFor({ timeout: WAIT });
      const offered = await page.locator("#category-list li").allInnerTexts();
      assert.ok(!offered.some((o) => /электропровода/.test(o)), `«вода» offers no wires: ${offered}`);
      await page.fill("#category", "жираф");
      await page.locator("[data-testid=category-empty]").waitFor({ timeout: WAIT });
      // The combobox tells a screen reader which option is highlighted.
      await page.fill("#category", "крыш");
      await page.keyboard.press("ArrowDown");
      const active = await page.getAttribute("#category", "aria-activedescendant");
      assert.ok(active && (await page.locator(`#${active}`).getAttribute("role")) === "option");
    });

    it("ticking «Авария» changes the deadline in the hints and the script as in the registration", async () => {
      const page = pages.operator;
      await page.fill("#category", "протечка");
      await page.locator("#category-list li").first().waitFor({ timeout: WAIT });
      await page.keyboard.press("Enter");
      await page.locator("[data-testid=will-get]").getByText("краткосрочная (24 ч)").waitFor({ timeout: WAIT });
      await page.check("#raise");
      await page.locator("[data-testid=will-get]").getByText("аварийная (6 ч)").waitFor({ timeout: WAIT });
      await page.locator("[data-testid=readback]").getByText("аварийная (6 ч)").waitFor({ timeout: WAIT });
      const deadline = (await page.locator("[data-testid=will-get] strong").innerText()).trim();
      const script = await page.locator("[data-testid=script]").innerText();
      // «01.12.2026, 11:47» in the hints is «01.12.2026 11:47» in the script: the same moment.
      assert.ok(script.includes(deadline.replace(", ", " ")), `the script tells the same deadline ${deadline}: ${script}`);
      await page.uncheck("#raise");
    });

    it("text typed over a chosen address un-chooses it, Tab keeps the text, and the confirmation reads back", async () => {
      const page = pages.operator;
      const fragment = state.address.label.replace(/^ул\.\s*/, "");
      await page.fill("#address", fragment);
      await page.locator("#address-list li").first().waitFor({ timeout: WAIT });
      await page.keyboard.press("Enter");
      const chosen = await page.inputValue("#address");
      assert.ok(chosen.startsWith(state.address.label), chosen);
      // Typing over it: never silently back to the old building.
      await page.fill("#address", "Садовая 999");
      await page.keyboard.press("Tab");
      assert.equal(await page.inputValue("#address"), "Садовая 999", "Tab keeps what was typed");
      await page.fill("#description", "Течёт крыша");
      await page.keyboard.press("Control+Enter");
      await page.locator(".field.invalid #address").waitFor({ timeout: WAIT });
      assert.equal(await page.inputValue("#address"), "Садовая 999");
      // Choose properly and register: the read-out names address and category.
      await page.fill("#address", fragment);
      await page.locator("#address-list li").first().waitFor({ timeout: WAIT });
      await page.keyboard.press("Enter");
      await page.keyboard.press("Control+Enter");
      await page.locator("[data-testid=registered]").waitFor({ timeout: WAIT });
      assert.equal((await page.locator("[data-testid=readout-address]").innerText()).trim(), state.address.label);
      assert.equal((await page.locator("[data-testid=readout-category]").innerText()).trim(), "Протекает кровля");
      // The next card starts with the phone field focused.
      assert.equal(await page.evaluate(() => document.activeElement?.id), "phone");
      await page.screenshot({ path: join(SHOTS, "operator-readout.png") });
    });

    it("a contractor cannot reject with a one-letter reason, and confirms a real one", async () => {
      const mine = await register({ addressId: state.address.id, categoryCode: "intercom-repair", description: "Не работает домофон" });
      const org = mine.organization.id;
      const page = await loggedIn(server.tokens[org], "#/contractor");
      pages.contractor = page;
      const row = page.locator(`[data-testid=queue] tr[data-number="${mine.number}"]`);
      await row.waitFor({ timeout: WAIT });
      await row.getByRole("button", { name: "Не наша" }).click();
      await row.locator("input[name=text]").fill("x");
      await row.getByRole("button", { name: "Подтвердить" }).click();
      await row.locator("[data-testid=reject-problem]").waitFor({ timeout: WAIT });
      let asked = null;
      page.once("dialog", (d) => {
        asked = d.message();
        d.accept();
      });
      await row.locator("input[name=text]").fill("Домофоны обслуживает другая организация");
      await row.getByRole("button", { name: "Подтвердить" }).click();
      await row.waitFor({ state: "detached", timeout: WAIT });
      assert.match(asked ?? "", new RegExp(mine.number));
    });
  });

  describe("8. words, keyboard, small screens", () => {
    it("the header and the pages speak Russian only, and plurals agree", async () => {
      const page = pages.operator;
      await page.goto(`${server.base}/#/search?q=${encodeURIComponent("Пушкинская")}`);
      await page.locator("[data-testid=search-count]").waitFor({ timeout: WAIT });
      const header = await page.locator("header").innerText();
      assert.ok(!/OPERATOR|SUPERVISOR|CONTRACTOR/.test(header), `no role codes in the header: ${header}`);
      assert.match(header, /оператор/);
      const count = await page.locator("[data-testid=search-count]").innerText();
      const m = /^(\d+) (\S+)/.exec(count);
      const n = Number(m[1]);
      const word = n % 10 === 1 && n % 100 !== 11 ? "заявка" : [2, 3, 4].includes(n % 10) && ![12, 13, 14].includes(n % 100) ? "заявки" : "заявок";
      assert.equal(m[2], word, `Russian plural for ${n}`);
    });

    it("every page passes an accessibility scan and shows focus", async () => {
      const page = pages.operator;
      for (const hash of ["#/operator", "#/search", `#/request/${state.earlier.id}`, "#/callbacks", "#/incidents"]) {
        await page.goto(`${server.base}/${hash}`);
        await page.locator("main h1, main h2").first().waitFor({ timeout: WAIT });
        const violations = await axeViolations(page);
        assert.deepEqual(violations, [], `${hash}: ${JSON.stringify(violations)}`);
      }
      await page.goto(`${server.base}/#/operator`);
      await page.locator("#phone").waitFor({ timeout: WAIT });
      await page.keyboard.press("Tab");
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, "none", "the focused control is visibly outlined");
    });

    it("the contractor board fits a 390×844 phone with its buttons on screen", async () => {
      const mine = await register({
        addressId: state.address.id,
        categoryCode: "elevator-stopped",
        description: "Лифт застрял между этажами",
        applicant: { name: "Ким Олег", phone: "8 856 412-99-01" },
      });
      const page = await loggedIn(server.tokens[mine.organization.id], "#/contractor", { width: 390, height: 844 });
      const row = page.locator(`[data-testid=queue] tr[data-number="${mine.number}"]`);
      await row.waitFor({ timeout: WAIT });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `the page is ${width} px wide`);
      const accept = row.getByRole("button", { name: "Принять" });
      await accept.scrollIntoViewIfNeeded();
      const box = await accept.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the button is on screen: ${JSON.stringify(box)}`);
      assert.match(await row.locator("[data-testid=applicant-phone]").innerText(), /\+78564129901/);
      const violations = await axeViolations(page);
      assert.deepEqual(violations, [], JSON.stringify(violations));
      await page.screenshot({ path: join(SHOTS, "contractor-phone.png"), fullPage: true });
      await page.context().close();
    });
  });
});

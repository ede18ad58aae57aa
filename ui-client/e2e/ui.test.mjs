// The four pages in a real browser against a real server: an operator
// registers a card with an incident hint, a contractor resolves it against the
// countdown, the supervisor board follows live, and the public map shows the
// pin without applicant data. Screenshots go to docs/screenshots for the README.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { gql, root, startServer } from "./server.mjs";
import { launch } from "./browser.mjs";
import { loggedIn as login, until, WAIT } from "./helpers.mjs";

const SHOTS = join(root, "docs", "screenshots");
const OUT = join(root, "ui-client", "e2e", "out");
const APPLICANT = { name: "Петренко Ольга Ивановна", phone: "8 (856) 412-77-31" };

let server;
/** A page logged in with `token` on the test's server. */
const loggedIn = (token, hash, viewport) => login(browser, server.base, token, hash, viewport);
let browser;
const pages = {};
const state = {};



/** The number in a supervisor board cell. */
async function cell(page, org, col) {
  const text = await page.locator(`[data-testid=sla-board] tr[data-org="${org}"] td[data-col="${col}"]`).textContent();
  return Number(text);
}

describe("Kontakt in the browser", { concurrency: false }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // A closed local port: the map must show its pins with no tile server reachable.
    // A fortnight of past activity, as `make run` has, so every page shows a working city.
    server = await startServer({ KONTAKT__MAP__TILE_URL: "http://127.0.0.1:9/{z}/{x}/{y}.png" }, ["--demo-days", "14"]);
    browser = await launch();
    const { addresses } = await gql(
      server.base,
      server.tokens.OPERATOR,
      `query { addresses(search: "Пушкинская", first: 5) { id label district } }`,
    );
    assert.ok(addresses.length > 0, "the demo registry has the street");
    state.address = addresses[0];
    const { createIncident } = await gql(
      server.base,
      server.tokens.SUPERVISOR,
      `mutation($a: ID!) { createIncident(input: { title: "Авария на ТП-114: нет света", kind: "power",
         organizationId: "res-gorlovka", addressIds: [$a] }) { id title } }`,
      { a: state.address.id },
    );
    state.incident = createIncident;
  });

  afterEach(async () => {
    // What each page showed at the end of every step, for reading a failure.
    mkdirSync(OUT, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true }).catch(() => {});
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows the login page in Russian and switches to English", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${server.base}/`);
    await page.getByText("Вход по токену").waitFor({ timeout: WAIT });
    await page.click("[data-testid=lang]");
    await page.getByText("Log in with a token").waitFor({ timeout: WAIT });
    await page.fill("textarea[name=token]", "not-a-token");
    await page.click("button[type=submit]");
    await page.getByText("This does not look like a Kontakt token.").waitFor({ timeout: WAIT });
    await ctx.close();
  });

  it("supervisor board opens live before anything happens", async () => {
    const page = await loggedIn(server.tokens.SUPERVISOR, "#/supervisor");
    pages.supervisor = page;
    await page.locator("[data-testid=sla-board]").waitFor({ timeout: WAIT });
    await page.locator(".live.on").first().waitFor({ timeout: WAIT });
    state.before = {
      dispatched: await cell(page, "res-gorlovka", "dispatched"),
      inProgress: await cell(page, "res-gorlovka", "inProgress"),
      resolvedToday: await cell(page, "res-gorlovka", "resolvedToday"),
    };
  });

  it("operator registers a card and sees the incident hint for its address", async () => {
    const page = await loggedIn(server.tokens.OPERATOR, "#/operator");
    pages.operator = page;
    await page.fill("#phone", APPLICANT.phone);
    await page.fill("#name", APPLICANT.name);
    await page.check("#consent");
    // Keyboard only from here: the address by a fragment of its label.
    const fragment = state.address.label.replace(/^ул\.\s*/, "").slice(0, 6);
    await page.fill("#address", fragment);
    await page.locator("#address-list li").first().waitFor({ timeout: WAIT });
    const labels = await page.locator("#address-list li").allTextContents();
    const index = labels.findIndex((l) => l.startsWith(state.address.label + " "));
    assert.ok(index >= 0, `the suggestions list ${state.address.label}: ${labels}`);
    // Typing highlights the first suggestion; each ↓ moves one down.
    for (let i = 0; i < index; i++) await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    assert.equal(await page.inputValue("#address"), `${state.address.label} (${state.address.district})`);
    await page.fill("#category", "нет электро");
    await page.locator("#category-list li").first().waitFor({ timeout: WAIT });
    await page.keyboard.press("Enter");

    const incidents = page.locator("[data-testid=incidents]");
    await incidents.getByText(state.incident.title).waitFor({ timeout: WAIT });
    const script = await page.locator("[data-testid=script]").textContent();
    assert.match(script, /Горловский район электрических сетей/, "the script names the organization");
    assert.doesNotMatch(script, /\{(deadline|organization|address)\}/, "the script is filled in");
    await page.fill("#description", "Нет света с утра, щиток у кв. 47 гудит.");
    await page.keyboard.press("Alt+1");
    await page.locator("[data-testid=linked]").getByText(state.incident.title).waitFor({ timeout: WAIT });
    await page.screenshot({ path: join(SHOTS, "operator.png") });

    await page.keyboard.press("Control+Enter");
    await page.locator("[data-testid=registered]").waitFor({ timeout: WAIT });
    state.number = (await page.locator("[data-testid=number]").textContent()).trim();
    assert.match(state.number, /^\d{4}-\d{6}$/);
    assert.match(await page.locator("[data-testid=deadline]").textContent(), /аварийная \(6 ч\)/);

    const { request } = await gql(
      server.base,
      server.tokens.SUPERVISOR,
      `query($n: String!) { request(number: $n) { id registeredAt deadline status incident { id }
         organization { id } applicant { name phone callbackConsent } } }`,
      { n: state.number },
    );
    state.id = request.id;
    assert.equal(request.incident.id, state.incident.id, "linked in one action");
    assert.equal(request.organization.id, "res-gorlovka");
    assert.equal(request.status, "DISPATCHED");
    assert.equal(Date.parse(request.deadline) - Date.parse(request.registeredAt), 6 * 3600 * 1000);
    assert.deepEqual(request.applicant, { name: APPLICANT.name, phone: "+78564127731", callbackConsent: true });
  });

  it("supervisor board counted the new request without a reload", async () => {
    const page = pages.supervisor;
    await until("dispatched +1", async () => (await cell(page, "res-gorlovka", "dispatched")) === state.before.dispatched + 1);
  });

  it("contractor sees it with a live countdown, accepts and resolves it", async () => {
    const page = await loggedIn(server.tokens["res-gorlovka"], "#/contractor");
    pages.contractor = page;
    const row = page.locator(`[data-testid=queue] tr[data-number="${state.number}"]`);
    await row.waitFor({ timeout: WAIT });
    const countdown = row.locator("[data-testid=countdown]");
    const first = await countdown.textContent();
    assert.match(first, /^0[56]:\d\d:\d\d$/, `about six hours left: ${first}`);
    await until("the countdown ticks", async () => (await countdown.textContent()) !== first, 5000);

    await row.getByRole("button", { name: "Принять" }).click();
    await row.getByText("в работе").waitFor({ timeout: WAIT });
    await until("in progress +1 on the supervisor board", async () =>
      (await cell(pages.supervisor, "res-gorlovka", "inProgress")) === state.before.inProgress + 1,
    );
    await page.screenshot({ path: join(SHOTS, "contractor.png") });

    await row.getByRole("button", { name: "Выполнено" }).click();
    await row.locator("input[name=text]").fill("Заменён предохранитель на ТП-114, свет восстановлен.");
    await row.getByRole("button", { name: "Подтвердить" }).click();
    await row.waitFor({ state: "detached", timeout: WAIT });

    const { request } = await gql(server.base, server.tokens.SUPERVISOR, `query($id: ID!) { request(id: $id) { status resolvedLate } }`, {
      id: state.id,
    });
    assert.deepEqual(request, { status: "RESOLVED", resolvedLate: false });
  });

  it("supervisor board shows the resolution live", async () => {
    const page = pages.supervisor;
    await until("resolved today +1", async () =>
      (await cell(page, "res-gorlovka", "resolvedToday")) === state.before.resolvedToday + 1 &&
      (await cell(page, "res-gorlovka", "inProgress")) === state.before.inProgress,
    );
    await page.locator("[data-testid=compliance] .bar-row").first().waitFor({ timeout: WAIT });
    await page.screenshot({ path: join(SHOTS, "supervisor.png"), fullPage: true });
  });

  it("public map shows the pin without applicant data, with no tiles, and updates live", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    const bodies = [];
    page.on("response", async (r) => {
      if (r.url().includes("/public/requests.geojson") && r.status() === 200) bodies.push(await r.text());
    });
    await page.goto(`${server.base}/#/map`);
    await page.selectOption("select[name=status]", "all");
    await page.locator(`[data-testid=pins] li[data-number="${state.number}"]`).waitFor({ timeout: WAIT });
    // The pin itself is drawn on the map, not only listed.
    await page.locator(`[data-testid=map] path[data-number="${state.number}"]`).waitFor({ timeout: WAIT });
    await page.getByText("Подложка карты недоступна").waitFor({ timeout: WAIT });

    const text = await page.locator("body").innerText();
    for (const secret of [APPLICANT.name, "Петренко", "412-77-31", "4127731", "кв. 47"]) {
      assert.ok(!text.includes(secret), `the page shows no ${secret}`);
      for (const b of bodies) assert.ok(!b.includes(secret), `the GeoJSON carries no ${secret}`);
    }

    // A request registered elsewhere appears without a reload.
    const { registerRequest } = await gql(
      server.base,
      server.tokens.OPERATOR,
      `mutation($a: ID!) { registerRequest(input: { addressId: $a, categoryCode: "no-cold-water",
         description: "Нет холодной воды" }) { number } }`,
      { a: state.address.id },
    );
    await page.selectOption("select[name=status]", "open");
    await page.locator(`[data-testid=pins] li[data-number="${registerRequest.number}"]`).waitFor({ timeout: WAIT });
    const item = await page.locator(`[data-testid=pins] li[data-number="${registerRequest.number}"]`).innerText();
    assert.match(item, /осталось (\d+ д \d\d ч|\d\d:\d\d:\d\d)/, `time left is shown: ${item}`);
    await page.screenshot({ path: join(SHOTS, "map.png") });
    await ctx.close();
  });
});

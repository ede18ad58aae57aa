// The administration's pages in a real browser against a real demo server:
// every tab shows what the API holds (counted by the test itself), and the
// admin's changes made through the page — crews, delivery e-mail, a script,
// a routing rule, buildings by form and by CSV, a token issued and revoked —
// land on the server and in the history with the admin's name. Refusals
// (checked here or by the server) are said in words and change nothing. A
// supervisor is kept out. Screenshots go to docs/screenshots/admin-*.png.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { gql, root, startServer } from "./server.mjs";
import { launch } from "./browser.mjs";
import { loggedIn as login, until, WAIT } from "./helpers.mjs";

const SHOTS = join(root, "docs", "screenshots");
const OUT = join(root, "ui-client", "e2e", "out");
const ADMIN_SUBJECT = "admin-demo";
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let server;
let browser;
let page;
const state = {};

/** A query as the admin. */
const api = (query, variables) => gql(server.base, server.tokens.ADMIN, query, variables);

/** A GraphQL call whose refusal is the point: the first error's code, or null. */
async function refusal(token, query) {
  const res = await fetch(`${server.base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  const body = await res.json();
  return body.errors?.[0]?.extensions?.code ?? null;
}

/** Serious and critical accessibility violations axe-core finds on the page. */
async function axeViolations(p) {
  await p.addScriptTag({ path: axePath });
  const result = await p.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Opens a tab by its link, as a user would, and waits for its body. */
async function openTab(tab) {
  await page.click(`.adm-tabs a[data-tab=${tab}]`);
  await page.waitForURL((u) => u.hash === `#/admin/${tab}`, { timeout: WAIT });
  await page.locator(`[data-testid=admin-${tab}]`).waitFor({ timeout: WAIT });
}

const shot = (name) => page.screenshot({ path: join(SHOTS, `admin-${name}.png`) });

/** A CAP alert the demo's folder feed turns into an incident: sent now, in force for a day. */
function capAlert(id) {
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, "+00:00");
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${id}</identifier>
  <sender>dispatch@res-gorlovka.example</sender>
  <sent>${iso(Date.now() - 60_000)}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>ru-RU</language>
    <category>Infra</category>
    <event>Отключение электроэнергии</event>
    <urgency>Immediate</urgency>
    <severity>Moderate</severity>
    <certainty>Observed</certainty>
    <expires>${iso(Date.now() + 86_400_000)}</expires>
    <senderName>Горловский РЭС</senderName>
    <headline>Аварийное отключение электроэнергии: проверка администрирования</headline>
    <area><areaDesc>ул. Садовая, д. 1–9 (нечётные)</areaDesc></area>
  </info>
</alert>`;
}

/** A one-hour calling window twelve hours from now in city time (UTC+3): callbacks wait in the queue meanwhile. */
function callingHoursAway() {
  const start = (new Date().getUTCHours() + 3 + 12) % 24;
  const hh = (h) => String(h).padStart(2, "0");
  return `${hh(start)}:00-${hh(start + 1)}:00`;
}

describe("the administration's pages", { concurrency: false }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer({
      KONTAKT__JOBS__FEEDS: "*/1 * * * * *",
      KONTAKT__CALLBACKS__CALLING_HOURS: callingHoursAway(),
    });
    browser = await launch();
    // The demo watches a folder of CAP files: one good alert and one broken document.
    const { feeds } = await api(`query { feeds { name location format } }`);
    state.capFeed = feeds.find((f) => f.format === "cap");
    if (state.capFeed) {
      const broken = join(state.capFeed.location, "e2e-broken.xml");
      writeFileSync(join(state.capFeed.location, "e2e-admin.xml"), capAlert("E2E-ADMIN-1"));
      writeFileSync(broken, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>");
      // Refused once is enough: from then on the feed's figures hold still.
      await until("the feed made the incident and refused the broken file", async () => {
        const { feeds: now } = await api(`query { feeds { name created errors } }`);
        const f = now.find((x) => x.name === state.capFeed.name);
        return f.created >= 1 && f.errors >= 1;
      }, 20_000);
      rmSync(broken);
    }
    page = await login(browser, server.base, server.tokens.ADMIN, "#/supervisor");
  });

  afterEach(async () => {
    mkdirSync(OUT, { recursive: true });
    await page?.screenshot({ path: join(OUT, "admin-last.png"), fullPage: true }).catch(() => {});
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("the admin's menu leads to the administration, on the organizations tab by default", async () => {
    await page.click("header nav a[href='#/admin']");
    await page.waitForURL((u) => u.hash === "#/admin", { timeout: WAIT });
    await page.locator("[data-testid=admin-organizations]").waitFor({ timeout: WAIT });
    assert.equal(await page.locator("h1").innerText(), "Администрирование");
    assert.equal(await page.locator(".adm-tabs a[aria-current=page]").innerText(), "Организации");
  });

  it("organizations: a row per organization, crews edited with a check first, and the history names the admin", async () => {
    const { organizations } = await api(`query { organizations { id crews } }`);
    const rows = page.locator("[data-testid=org-table] tbody[data-org]");
    await until("the organizations are listed", async () => (await rows.count()) === organizations.length);
    const org = organizations.find((o) => o.id === "zhek-nikitovsky") ?? organizations[0];
    const row = page.locator(`tbody[data-org="${org.id}"]`);
    assert.equal(await row.locator("[data-testid=crews]").innerText(), String(org.crews));

    await row.locator("[data-testid=edit]").click();
    const form = row.locator("[data-testid=org-form]");
    await form.locator("input[name=crews]").fill("-3");
    await form.locator("[data-testid=org-save]").click();
    await form.locator("[data-testid=problem]").getByText("целое от 0 до 10 000").waitFor({ timeout: WAIT });
    const unchanged = (await api(`query { organizations { id crews } }`)).organizations.find((o) => o.id === org.id);
    assert.equal(unchanged.crews, org.crews, "nothing was sent");

    const crews = org.crews + 2;
    await form.locator("input[name=crews]").fill(String(crews));
    await form.locator("[data-testid=org-save]").click();
    await page.locator("[data-testid=notice]").waitFor({ timeout: WAIT });
    await until("the row shows the new crews", async () => (await row.locator("[data-testid=crews]").innerText()) === String(crews));
    const saved = (await api(`query { organizations { id crews } }`)).organizations.find((o) => o.id === org.id);
    assert.equal(saved.crews, crews);

    await row.locator("[data-testid=history]").click();
    const entry = row.locator("[data-testid=history-list] > li").last();
    await entry.waitFor({ timeout: WAIT });
    assert.equal(await entry.getAttribute("data-actor"), ADMIN_SUBJECT);
    const field = entry.locator("li[data-field=crews]");
    assert.equal(await field.locator("[data-testid=before]").innerText(), String(org.crews));
    assert.equal(await field.locator("[data-testid=after]").innerText(), String(crews));
    assert.match(await field.innerText(), new RegExp(`бригады: ${org.crews} → ${crews}`));
    assert.match(await entry.innerText(), new RegExp(`${ADMIN_SUBJECT} \\(администратор\\)`));
    state.org = { ...org, crews };
  });

  it("organizations: an e-mail for notices is checked, then set, and shown with its history", async () => {
    const row = page.locator(`tbody[data-org="${state.org.id}"]`);
    await row.locator("[data-testid=edit-delivery]").click();
    const form = row.locator("[data-testid=delivery-form]");
    await form.locator("textarea[name=emails]").fill("dispatch-at-zhek");
    await form.locator("[data-testid=delivery-save]").click();
    await form.locator("[data-testid=problem]").getByText("не адрес электронной почты").waitFor({ timeout: WAIT });
    await form.locator("textarea[name=emails]").fill("dispatch@zhek-nikitovsky.example");
    await form.locator("[data-testid=delivery-save]").click();
    await row.locator("[data-testid=emails]").getByText("dispatch@zhek-nikitovsky.example").waitFor({ timeout: WAIT });
    const { deliveries } = await api(`query { deliveries { recipient emails } }`);
    assert.deepEqual(deliveries.find((d) => d.recipient === state.org.id).emails, ["dispatch@zhek-nikitovsky.example"]);
    await row.locator("[data-testid=delivery-history]").click();
    const entry = row.locator("[data-testid=history-list] > li").last();
    await entry.locator("li[data-field=emails] [data-testid=after]").getByText("dispatch@zhek-nikitovsky.example").waitFor({ timeout: WAIT });
    assert.equal(await entry.getAttribute("data-actor"), ADMIN_SUBJECT);
    // The administration's own channels are listed too.
    await page.locator("[data-testid=administration-delivery]").getByText("не настроены").waitFor({ timeout: WAIT });
    await row.locator("[data-testid=delivery-history]").click();
    assert.deepEqual(await axeViolations(page), [], "no serious accessibility violations");
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot("organizations");
  });

  it("categories: each with its class in words and both scripts; the Russian script is edited after a placeholder check", async () => {
    await openTab("categories");
    const { categories } = await api(`query { categories { code deadlineClass scriptRu: script(lang: "ru") scriptEn: script(lang: "en") } }`);
    const cards = page.locator("[data-testid=category-list] > li");
    await until("the categories are listed", async () => (await cards.count()) === categories.length);
    const cat = categories.find((c) => c.code === "elevator-stopped") ?? categories[0];
    const card = page.locator(`li[data-category="${cat.code}"]`);
    const classWords = { EMERGENCY: "аварийная (6 ч)", SHORT: "краткосрочная (24 ч)", MEDIUM: "среднесрочная (72 ч)", LONG: "долгосрочная (неделя)" };
    assert.equal(await card.locator("[data-testid=deadline-class]").innerText(), classWords[cat.deadlineClass]);
    assert.equal(await card.locator("[data-testid=script-en]").innerText(), cat.scriptEn);
    assert.equal(await card.locator("[data-testid=script-ru]").innerText(), cat.scriptRu);

    await card.locator("[data-testid=edit]").click();
    const form = card.locator("[data-testid=category-form]");
    await form.locator("textarea[name=scriptRu]").fill("Лифт запустят до {srok}.");
    await form.locator("[data-testid=category-save]").click();
    await form.locator("[data-testid=problem]").getByText("{srok}").waitFor({ timeout: WAIT });
    const script = "Заявка принята: {organization} запустит лифт до {deadline}. Не пытайтесь открыть двери сами.";
    await form.locator("textarea[name=scriptRu]").fill(script);
    await form.locator("[data-testid=category-save]").click();
    await until("the card shows the new script", async () => (await card.locator("[data-testid=script-ru]").innerText()) === script);
    const { categories: after } = await api(`query { categories { code scriptRu: script(lang: "ru") scriptEn: script(lang: "en") } }`);
    const saved = after.find((c) => c.code === cat.code);
    assert.equal(saved.scriptRu, script);
    assert.equal(saved.scriptEn, cat.scriptEn, "the English script stays");
    await card.locator("[data-testid=history]").click();
    const entry = card.locator("[data-testid=history-list] > li").last();
    await entry.locator("li[data-field=script_ru] [data-testid=after]").getByText(script).waitFor({ timeout: WAIT });
    assert.equal(await entry.getAttribute("data-actor"), ADMIN_SUBJECT);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot("categories");
  });

  it("routing: a row per rule; a rule is added, then deleted after a confirmation", async () => {
    await openTab("routing");
    const load = () => api(`query { routingRules { key categoryCode district organizationId } districts categories { code } }`);
    const before = await load();
    const rows = page.locator("[data-testid=rule-table] tbody[data-rule]");
    await until("the rules are listed", async () => (await rows.count()) === before.routingRules.length);
    // A category and district with no rule yet.
    const has = (c, d) => before.routingRules.some((r) => r.categoryCode === c && (r.district ?? "") === d);
    let pick;
    for (const c of before.categories) for (const d of before.districts) if (!pick && !has(c.code, d)) pick = { category: c.code, district: d };
    assert.ok(pick, "a category and a district without a rule");

    const form = page.locator("[data-testid=rule-form]");
    await form.locator("[data-testid=rule-save]").click();
    await form.locator("[data-testid=problem]").first().waitFor({ timeout: WAIT });
    await form.locator("select[name=category]").selectOption(pick.category);
    await form.locator("select[name=district]").selectOption(pick.district);
    await form.locator("select[name=organization]").selectOption("zhek-central");
    await form.locator("[data-testid=rule-save]").click();
    const row = page.locator(`tbody[data-category="${pick.category}"][data-district="${pick.district}"]`);
    await row.waitFor({ timeout: WAIT });
    const added = await load();
    assert.equal(added.routingRules.length, before.routingRules.length + 1);
    assert.equal(await rows.count(), added.routingRules.length);
    assert.ok(added.routingRules.some((r) => r.categoryCode === pick.category && r.district === pick.district && r.organizationId === "zhek-central"));

    await row.locator("[data-testid=history]").click();
    const created = row.locator("[data-testid=history-list] > li[data-change=CREATED]");
    await created.waitFor({ timeout: WAIT });
    assert.equal(await created.getAttribute("data-actor"), ADMIN_SUBJECT);

    await row.locator("[data-testid=delete]").click();
    await row.locator("[data-testid=delete-confirm]").getByText("Удалить правило").waitFor({ timeout: WAIT });
    await shot("routing");
    await row.locator("[data-testid=delete-yes]").click();
    await row.waitFor({ state: "detached", timeout: WAIT });
    const removed = await load();
    assert.equal(removed.routingRules.length, before.routingRules.length);
    assert.equal(await rows.count(), removed.routingRules.length);
  });

  it("buildings: a CSV of three is imported with its progress, found by search; a bad file names its line and adds nothing", async () => {
    await openTab("buildings");
    const street = "ул. Испытательная";
    const good = [
      "id,street,house,district,lat,lon",
      `e2e-imp-1,${street},1,Никитовский,48.3101,38.0501`,
      `e2e-imp-2,${street},3,Никитовский,48.3103,38.0503`,
      `e2e-imp-3,${street},5,Никитовский,48.3105,38.0505`,
    ].join("\n");
    await page.setInputFiles("#import-file", { name: "three.csv", mimeType: "text/csv", buffer: Buffer.from(good) });
    await page.locator("[data-testid=import-rows]").getByText("3 строки").waitFor({ timeout: WAIT });
    await page.click("[data-testid=import-start]");
    const job = page.locator("[data-testid=import-job]");
    await until("the import is done", async () => (await job.getAttribute("data-status")) === "DONE");
    assert.equal(await job.getAttribute("data-done"), "3");
    assert.equal(await job.getAttribute("data-total"), "3");
    assert.equal(await page.locator("#import-progress").evaluate((p) => [p.value, p.max].join("/")), "3/3");
    await page.fill("#building-q", "Испытательная");
    await page.click("[data-testid=building-search]");
    const found = page.locator("[data-testid=building-table] tbody[data-building^=e2e-imp-]");
    await until("the imported buildings are found", async () => (await found.count()) === 3);
    const { addresses } = await api(`query { addresses(search: "Испытательная", first: 25) { id } }`);
    assert.equal(addresses.filter((a) => a.id.startsWith("e2e-imp-")).length, 3);
    await shot("buildings");

    // The server refuses a value, naming its line; nothing of the file is written.
    const badValue = ["id,street,house,district,lat,lon", `e2e-bad-1,${street},7,Никитовский,48.31,38.05`, `e2e-bad-2,${street},9,Никитовский,200,38.05`].join("\n");
    await page.setInputFiles("#import-file", { name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from(badValue) });
    await page.click("[data-testid=import-start]");
    await page.locator("[data-testid=import-problem]").getByText("строка 3").waitFor({ timeout: WAIT });
    // A line with a field missing is refused before sending.
    const badShape = ["id,street,house,district,lat,lon", `e2e-bad-3,${street},11,Никитовский,48.31,38.05`, `e2e-bad-4,${street},13,Никитовский`].join("\n");
    await page.setInputFiles("#import-file", { name: "short.csv", mimeType: "text/csv", buffer: Buffer.from(badShape) });
    await page.click("[data-testid=import-start]");
    await page.locator("[data-testid=import-problem]").getByText("строка 3").waitFor({ timeout: WAIT });
    assert.match(await page.locator("[data-testid=import-problem]").innerText(), /число полей/);
    const after = await api(`query { addresses(search: "Испытательная", first: 25) { id } }`);
    assert.deepEqual(after.addresses.filter((a) => a.id.startsWith("e2e-bad-")), [], "nothing of a refused file was written");
  });

  it("buildings: one is added by the form and edited, with its history; a taken code is refused in words", async () => {
    await page.click("[data-testid=new-building]");
    const form = page.locator("[data-testid=building-form]");
    await form.locator("input[name=id]").fill("e2e-form-1");
    await form.locator("input[name=street]").fill("ул. Проверочная");
    await form.locator("input[name=district]").fill("Калининский");
    await form.locator("input[name=lat]").fill("91");
    await form.locator("input[name=lon]").fill("38.04");
    await form.locator("[data-testid=building-save]").click();
    await form.locator("[data-testid=problem]").first().waitFor({ timeout: WAIT });
    assert.equal(await form.locator("[data-testid=problem]").count(), 2, "the house is missing and the latitude is off");
    assert.deepEqual(await axeViolations(page), [], "no serious accessibility violations");
    await form.locator("input[name=house]").fill("4");
    await form.locator("input[name=lat]").fill("48.2901");
    await form.locator("[data-testid=building-save]").click();
    const row = page.locator("tbody[data-building=e2e-form-1]");
    await row.waitFor({ timeout: WAIT });
    assert.match(await row.locator("[data-testid=building-label]").innerText(), /Проверочная, 4/);

    await row.locator("[data-testid=edit]").click();
    await row.locator("input[name=house]").fill("4А");
    await row.locator("[data-testid=building-save]").click();
    await until("the house is changed", async () => /Проверочная, 4А/.test(await row.locator("[data-testid=building-label]").innerText()));
    const { addresses } = await api(`query { addresses(search: "Проверочная", first: 5) { id house } }`);
    assert.equal(addresses.find((a) => a.id === "e2e-form-1").house, "4А");
    await row.locator("[data-testid=history]").click();
    const changed = row.locator("[data-testid=history-list] > li[data-change=CHANGED]");
    await changed.waitFor({ timeout: WAIT });
    assert.match(await changed.locator("li[data-field=house]").innerText(), /дом: 4 → 4А/);
    assert.equal(await changed.getAttribute("data-actor"), ADMIN_SUBJECT);

    // The server knows the codes taken: its refusal is said in words and nothing changes.
    await page.click("[data-testid=new-building]");
    const again = page.locator("[data-testid=building-form]");
    await again.locator("input[name=id]").fill("e2e-form-1");
    await again.locator("input[name=street]").fill("ул. Другая");
    await again.locator("input[name=house]").fill("1");
    await again.locator("input[name=district]").fill("Калининский");
    await again.locator("input[name=lat]").fill("48.29");
    await again.locator("input[name=lon]").fill("38.04");
    await again.locator("[data-testid=building-save]").click();
    const error = again.locator("[data-testid=building-error]");
    await error.waitFor({ timeout: WAIT });
    assert.match(await error.innerText(), /код уже занят/);
    assert.doesNotMatch(await error.innerText(), /already|exists/i, "the words are the page's, not the server's");
    assert.equal(await again.locator("input[name=street]").inputValue(), "ул. Другая", "the draft is kept");
    const still = await api(`query { addresses(search: "Проверочная", first: 5) { id street house } }`);
    assert.equal(still.addresses.find((a) => a.id === "e2e-form-1").house, "4А", "the building did not change");
  });

  it("tokens: one is issued and shown once, then revoked after a confirmation, and the server refuses it", async () => {
    await openTab("tokens");
    const { tokens } = await api(`query { tokens(first: 100) { jti } }`);
    const rows = page.locator("[data-testid=token-table] tbody[data-jti]");
    await until("the tokens are listed", async () => (await rows.count()) === tokens.length);

    const form = page.locator("[data-testid=token-form]");
    await form.locator("select[name=role]").selectOption("CONTRACTOR");
    await form.locator("input[name=subject]").fill("e2e-operator-7");
    await form.locator("[data-testid=token-save]").click();
    await form.locator("[data-testid=problem]").getByText("Выберите организацию").waitFor({ timeout: WAIT });
    await form.locator("select[name=role]").selectOption("OPERATOR");
    await form.locator("input[name=extension]").fill("107");
    await form.locator("input[name=ttl]").fill("2");
    await form.locator("select[name=unit]").selectOption("D");
    await form.locator("[data-testid=token-save]").click();
    const issued = page.locator("[data-testid=issued]");
    await issued.waitFor({ timeout: WAIT });
    assert.match(await issued.innerText(), /показывается один раз/);
    const token = await issued.locator("[data-testid=issued-token]").inputValue();
    const jti = await issued.locator("[data-testid=issued-token]").getAttribute("data-jti");
    await issued.locator("[data-testid=copy]").click();
    await issued.locator("[data-testid=copied]").filter({ hasText: /./ }).waitFor({ timeout: WAIT });
    const me = await gql(server.base, token, `query { me { subject role extension } }`);
    assert.deepEqual(me.me, { subject: "e2e-operator-7", role: "OPERATOR", extension: "107" });
    await until("the new token is listed", async () => (await rows.count()) === tokens.length + 1);
    const row = page.locator(`tbody[data-jti="${jti}"]`);
    assert.equal(await row.getAttribute("data-state"), "active");
    assert.equal(await rows.first().getAttribute("data-jti"), jti, "newest first");
    await shot("tokens");

    await row.locator("[data-testid=revoke]").click();
    await row.locator("[data-testid=revoke-confirm]").getByText("e2e-operator-7").waitFor({ timeout: WAIT });
    await row.locator("[data-testid=revoke-yes]").click();
    await until("the token is revoked", async () => (await row.getAttribute("data-state")) === "revoked");
    assert.match(await row.locator("[data-testid=state]").innerText(), new RegExp(`отозван[\\s\\S]*${ADMIN_SUBJECT}`));
    assert.equal(await refusal(token, `query { me { subject } }`), "UNAUTHENTICATED");
    const { tokens: now } = await api(`query { tokens(first: 100) { jti revokedBy } }`);
    assert.equal(now.find((t) => t.jti === jti).revokedBy, ADMIN_SUBJECT);
  });

  it("feeds: the page shows each feed's figures as the API does, and its last refusal in words", async () => {
    assert.ok(state.capFeed, "the demo watches a CAP folder");
    const { feeds } = await api(`query { feeds { name created errors lastErrorReason } }`);
    await openTab("feeds");
    const rows = page.locator("[data-testid=feed-table] tr[data-feed]");
    await until("the feeds are listed", async () => (await rows.count()) === feeds.length);
    for (const f of feeds) {
      const row = page.locator(`tr[data-feed="${f.name}"]`);
      assert.equal(await row.locator("td[data-count=created]").innerText(), String(f.created), `${f.name} created`);
      assert.equal(await row.locator("td[data-count=errors]").innerText(), String(f.errors), `${f.name} errors`);
    }
    const cap = feeds.find((f) => f.name === state.capFeed.name);
    const reasons = { malformed: "документ повреждён", wrong_schema: "не тот формат", rejected: "авария не принята", oversized: "слишком большой документ", unreachable: "лента недоступна" };
    assert.match(await page.locator(`tr[data-feed="${cap.name}"] [data-testid=last-error]`).innerText(), new RegExp(reasons[cap.lastErrorReason]));
    await shot("feeds");
  });

  it("dialer: the queue as the API has it, each number linked to its request", async () => {
    // A resolved request whose applicant asked to be called back: the dialer's to call.
    const { addresses } = await api(`query { addresses(search: "Пушкинская 1", first: 1) { id } }`);
    const { registerRequest: request } = await gql(
      server.base,
      server.tokens.OPERATOR,
      `mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number organization { id } } }`,
      {
        input: {
          addressId: addresses[0].id,
          categoryCode: "stairwell-lighting",
          description: "Нет света в подъезде, проверка автодозвона",
          applicant: { name: "Проверкин Пётр", phone: "8 856 412-55-66", callbackConsent: true },
        },
      },
    );
    const crew = server.tokens[request.organization.id];
    await gql(server.base, crew, `mutation($id: ID!) { acceptRequest(id: $id) { version } }`, { id: request.id });
    await gql(server.base, crew, `mutation($id: ID!) { resolveRequest(id: $id, resolution: "Заменены лампы") { version } }`, { id: request.id });
    const queue = async () => (await api(`query { dialerQueue(first: 100) { configured queued { number } failed { number } } }`)).dialerQueue;
    await until("the callback waits in the queue", async () => (await queue()).queued.some((q) => q.number === request.number));
    const q = await queue();
    await openTab("dialer");
    assert.equal(await page.locator("[data-testid=dialer-configured]").getAttribute("data-configured"), String(q.configured));
    const queued = page.locator("[data-testid=dialer-queued] tr[data-number]");
    await until("the queue is listed", async () => (await queued.count()) === q.queued.length);
    assert.equal(await page.locator("[data-testid=dialer-failed] tr[data-number]").count(), q.failed.length);
    if (q.failed.length === 0) await page.locator("[data-testid=dialer-failed-none]").waitFor({ timeout: WAIT });
    await shot("dialer");
    await page.locator(`[data-testid=dialer-queued] tr[data-number="${request.number}"] a`).click();
    await page.waitForURL((u) => u.hash === `#/request/${request.id}`, { timeout: WAIT });
    await page.goBack();
    await page.locator("[data-testid=admin-dialer]").waitFor({ timeout: WAIT });
  });

  it("changes: the log newest first as the API has it, filtered by kind, naming the admin", async () => {
    await openTab("changes");
    const { referenceChanges } = await api(`query { referenceChanges(first: 50) { seq actor kind change } }`);
    const entries = page.locator("[data-testid=changes] > li");
    await until("the log is listed", async () => (await entries.count()) === referenceChanges.length);
    const seqs = await entries.evaluateAll((ls) => ls.map((l) => Number(l.dataset.seq)));
    assert.deepEqual(seqs, referenceChanges.map((c) => c.seq));
    assert.deepEqual([...seqs].sort((a, b) => b - a), seqs, "newest first");
    // The last thing the admin did was revoking a token.
    const newest = entries.first();
    assert.equal(await newest.getAttribute("data-actor"), ADMIN_SUBJECT);
    await shot("changes");

    await page.selectOption("#changes-kind", "ORGANIZATION");
    const orgs = await api(`query { referenceChanges(kind: ORGANIZATION, first: 50) { seq } }`);
    await until("only organizations are listed", async () => (await entries.count()) === orgs.referenceChanges.length);
    const kinds = await entries.evaluateAll((ls) => [...new Set(ls.map((l) => l.dataset.kind))]);
    assert.deepEqual(kinds, ["ORGANIZATION"]);
    const mine = page.locator(`[data-testid=changes] > li[data-actor="${ADMIN_SUBJECT}"]`).first();
    assert.match(await mine.innerText(), new RegExp(`${state.org.id}[\\s\\S]*бригады: ${state.org.crews - 2} → ${state.org.crews}`));
  });

  it("speaks English when switched, and fits a phone's width", async () => {
    await openTab("organizations");
    await page.click("[data-testid=lang]");
    await page.locator(".adm-tabs a[data-tab=organizations]").getByText("Organizations").waitFor({ timeout: WAIT });
    assert.equal(await page.locator("h1").innerText(), "Administration");
    await page.click("[data-testid=lang]");
    await page.locator(".adm-tabs a[data-tab=organizations]").getByText("Организации").waitFor({ timeout: WAIT });

    const phone = await login(browser, server.base, server.tokens.ADMIN, "#/supervisor", { width: 390, height: 844 });
    await phone.goto(`${server.base}/#/admin/organizations`);
    const firstOrg = phone.locator("[data-testid=org-table] tbody[data-org]").first();
    try {
      await firstOrg.waitFor({ timeout: WAIT });
    } catch (e) {
      // Seen once in many runs: the table never came after the in-page navigation.
      // Say what the page showed instead, then open the address afresh.
      console.error(`[admin phone] no table after navigating; the page shows: ${(await phone.locator("main").innerText()).slice(0, 500)}`);
      await phone.reload();
      await firstOrg.waitFor({ timeout: WAIT });
    }
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page does not scroll sideways (${overflow}px)`);
    await phone.screenshot({ path: join(SHOTS, "admin-phone.png") });
    await phone.context().close();
  });

  it("a supervisor opening the administration is sent to their own page, and the API refuses them", async () => {
    const sup = await login(browser, server.base, server.tokens.SUPERVISOR, "#/supervisor");
    assert.equal(await sup.locator("header nav a[href='#/admin']").count(), 0, "no link to it");
    await sup.goto(`${server.base}/#/admin/changes`);
    await sup.waitForURL((u) => u.hash === "#/supervisor", { timeout: WAIT });
    assert.equal(await refusal(server.tokens.SUPERVISOR, `query { referenceChanges(first: 5) { seq } }`), "FORBIDDEN");
    await sup.context().close();
  });
});

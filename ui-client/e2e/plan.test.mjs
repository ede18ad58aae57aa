// The resource plan and the appeals to the region in a real browser against
// a real demo city with nine weeks of history. The plan page must show, row
// by row, what `resourcePlan` answers; a supervisor reads the inputs, an
// admin changes a norm and an organization's working hours through the page
// and the plan follows (checked against the API again), with the admin named
// in the norm's history. A supervisor drafts an appeal for a regional
// organization below the target, edits it (and meets someone else's edit),
// records it as sent, downloads the Word letter and withdraws a second one;
// the late requests attached are as many as `organizationPerformance`
// counts late and open overdue. Screenshots go to docs/screenshots.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { gql, root, startServer } from "./server.mjs";
import { launch } from "./browser.mjs";
import { loggedIn as login, until, WAIT } from "./helpers.mjs";

const SHOTS = join(root, "docs", "screenshots");
const OUT = join(root, "ui-client", "e2e", "out");
/** Nine weeks of past activity: an eight-week period is full, the week before it feeds its first deadlines. */
const DEMO_DAYS = 63;
const ADMIN_SUBJECT = "admin-demo";
const SUPERVISOR_SUBJECT = "supervisor-demo";
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let server;
let browser;
const pages = {};
const state = {};

const asSupervisor = (query, variables) => gql(server.base, server.tokens.SUPERVISOR, query, variables);
const asAdmin = (query, variables) => gql(server.base, server.tokens.ADMIN, query, variables);
const loggedIn = (token, hash, viewport) => login(browser, server.base, token, hash, viewport);

const PLAN = `query { resourcePlan(months: 12, target: 0.9) {
  organizations { organizationId crewsNeeded crewsForBest crewsConfigured complianceConfigured expectedRequests
    vehiclesNeeded vehicleHours crewHours categoriesWithoutNorm materials { name unit quantity } }
} }`;

/** The plan as the API answers it now, by organization. */
async function apiPlan() {
  const { resourcePlan } = await asSupervisor(PLAN);
  return resourcePlan.organizations;
}

/** A GraphQL call whose refusal is the point: the first error's code, or null. */
async function refusal(token, query, variables = {}) {
  const res = await fetch(`${server.base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  return body.errors?.[0]?.extensions?.code ?? null;
}

/** Serious and critical accessibility violations axe-core finds on the page. */
async function axeViolations(p) {
  await p.addScriptTag({ path: axePath });
  const found = await p.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Opens the plan through the menu and waits until it shows the plan for its current choice. */
async function openPlan(page) {
  await page.click("header nav a[href='#/plan']");
  await page.waitForURL((u) => u.hash === "#/plan", { timeout: WAIT });
  await page.locator("[data-testid=plan-body][data-ready=yes]").waitFor({ timeout: 30_000 });
}

/** Every row of the crews table: the numbers the page shows. */
async function crewRows(page) {
  return page.locator("[data-testid=crews-table] tbody[data-org]").evaluateAll((bodies) =>
    bodies.map((b) => ({
      id: b.dataset.org,
      configured: b.querySelector("[data-testid=crews-configured]").textContent.trim(),
      needed: b.querySelector("[data-testid=crews-needed]").dataset.value,
      vehicles: b.querySelector("[data-testid=vehicles]").textContent.trim(),
      compliance: b.querySelector("[data-testid=compliance-configured]").dataset.value,
      note: b.querySelector("[data-testid=ceiling-note]")?.textContent ?? null,
      best: b.querySelector("[data-testid=crews-for-best]")?.dataset.value ?? null,
    })),
  );
}

/** The page's rows against the API's, organization by organization. */
function assertRowsMatch(rows, orgs) {
  assert.equal(rows.length, orgs.length, "a row per organization");
  for (const o of orgs) {
    const r = rows.find((x) => x.id === o.organizationId);
    assert.ok(r, `a row for ${o.organizationId}`);
    assert.equal(r.configured, String(o.crewsConfigured), `${o.organizationId}: crews configured`);
    assert.equal(r.needed, o.crewsNeeded === null ? "" : String(o.crewsNeeded), `${o.organizationId}: crews needed`);
    assert.equal(r.vehicles, String(o.vehiclesNeeded), `${o.organizationId}: vehicles`);
    // Two answers of the plan differ a little: the current month counts by the time observed, and time passes.
    if (o.complianceConfigured === null) assert.equal(r.compliance, "", `${o.organizationId}: compliance`);
    else assert.ok(Math.abs(Number(r.compliance) - o.complianceConfigured) < 1e-4, `${o.organizationId}: compliance ${r.compliance} against ${o.complianceConfigured}`);
    if (o.crewsNeeded === null && o.expectedRequests > 0) {
      assert.ok(r.note, `${o.organizationId}: says the target is out of reach`);
      assert.equal(r.best, o.crewsForBest === null ? null : String(o.crewsForBest), `${o.organizationId}: crews for the best`);
    } else {
      assert.equal(r.note, null, `${o.organizationId}: no out-of-reach note`);
    }
  }
}

/** Materials of every organization summed by name and unit. */
function materialTotals(orgs) {
  const out = new Map();
  for (const o of orgs) for (const m of o.materials) out.set(`${m.name}|${m.unit}`, (out.get(`${m.name}|${m.unit}`) ?? 0) + m.quantity);
  return out;
}

const close = (a, b) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

/** One file of a zip archive, read through its central directory. */
function unzipEntry(buf, name) {
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, "a zip's end record");
  const entries = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, "a central directory entry");
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const n = buf.readUInt16LE(p + 28);
    const extra = buf.readUInt16LE(p + 30);
    const comment = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const entry = buf.toString("utf8", p + 46, p + 46 + n);
    if (entry === name) {
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      const data = buf.subarray(start, start + size);
      return (method === 8 ? inflateRawSync(data) : data).toString("utf8");
    }
    p += 46 + n + extra + comment;
  }
  throw new Error(`no ${name} in the archive`);
}

const PERFORMANCE = `query($from: DateTime!, $to: DateTime!, $target: Float!) {
  organizationPerformance(from: $from, to: $to, subordination: REGIONAL, target: $target) {
    organization { id name } total { onTime late openOverdue compliance }
  }
}`;
const APPEAL = `query($id: ID!) { appeal(id: $id) { id version status subject body outgoingNumber withdrawalReason docxUrl
  figures { late openOverdue } lateRequests { number } history { kind actor note } organization { name } } }`;

describe("the resource plan and the appeals in the page", { concurrency: false }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer({}, ["--demo-days", String(DEMO_DAYS)]);
    browser = await launch();
    state.planServed = (await refusal(server.tokens.SUPERVISOR, `query { resourcePlan { target } }`)) === null;
  });

  /** The plan's tests need the plan in the API: say so plainly when the server lacks it. */
  const needsPlan = () =>
    assert.ok(state.planServed, "the server has no `resourcePlan`: PlanQuery/PlanMutation (api/src/graphql/plan.rs) are not merged into the schema's roots");

  afterEach(async () => {
    mkdirSync(OUT, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      await page.screenshot({ path: join(OUT, `plan-${name}.png`), fullPage: true }).catch(() => {});
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("a supervisor sees every organization's crews and vehicles as the API plans them, and the inputs read-only", async () => {
    needsPlan();
    const page = (pages.supervisor = await loggedIn(server.tokens.SUPERVISOR, "#/supervisor"));
    await openPlan(page);
    const orgs = await apiPlan();
    assertRowsMatch(await crewRows(page), orgs);
    const vehicles = orgs.reduce((s, o) => s + o.vehiclesNeeded, 0);
    assert.equal(await page.locator("[data-testid=total-vehicles]").innerText(), String(vehicles));
    assert.equal(await page.locator("[data-testid=crews-table] tbody[data-org]").count(), orgs.length);
    // The model is explained in words on the page.
    await page.locator("[data-testid=model] summary").click();
    assert.match(await page.locator("[data-testid=model]").innerText(), /M\/M\/c/);
    // The forecast: a chart per organization, described for screen readers.
    assert.equal(await page.locator("[data-testid=forecast-chart][role=img]").count(), orgs.length);

    // The inputs are there to read, with nothing to change them by.
    const inputs = page.locator("[data-testid=inputs]");
    await inputs.locator("[data-testid=hours-table] tbody[data-org]").first().waitFor({ timeout: WAIT });
    assert.equal(await inputs.getAttribute("data-editable"), "no");
    assert.equal(await inputs.locator("button[data-testid=edit], button[data-testid=history]").count(), 0);
    assert.equal(await inputs.locator("form, select, textarea").count(), 0);
    assert.ok((await inputs.locator("[data-testid=norms-table] tbody[data-category]").count()) > 0, "the norms are listed");
    // And the server would refuse them anyway.
    assert.equal(
      await refusal(server.tokens.SUPERVISOR, `mutation { setCategoryNorm(input: { categoryCode: "x", crewHours: 1, vehicleHours: 1 }) }`),
      "FORBIDDEN",
    );
    await page.locator("[data-testid=crews-table] [data-testid=more]").first().click();
    assert.deepEqual(await axeViolations(page), []);
    // Another target: the page asks again and shows what the API plans for it.
    await page.locator("[data-testid=model] summary").click();
    await page.locator("[data-testid=\"target-0.8\"]").check();
    await page.locator(".plan[data-target='0.8'] [data-testid=plan-body][data-ready=yes]").waitFor({ timeout: WAIT });
    const { resourcePlan } = await asSupervisor(PLAN.replace("target: 0.9", "target: 0.8"));
    assertRowsMatch(await crewRows(page), resourcePlan.organizations);
    await page.locator("[data-testid=summary]").evaluate((e) => e.scrollIntoView({ block: "start" }));
    await page.screenshot({ path: join(SHOTS, "plan.png") });
  });

  it("an admin's norm changes the vehicles and materials to what the API then plans, and its history names the admin", async () => {
    needsPlan();
    const page = (pages.admin = await loggedIn(server.tokens.ADMIN, "#/supervisor"));
    await openPlan(page);
    const before = await apiPlan();
    // A category some organization expects without a norm, or else the first norm there is.
    const { categoryNorms } = await asAdmin(`query { categoryNorms { categoryCode vehicleHours } }`);
    const unnormed = [...before].sort((a, b) => b.expectedRequests - a.expectedRequests).find((o) => o.categoriesWithoutNorm.length > 0);
    const code = unnormed?.categoriesWithoutNorm[0] ?? categoryNorms[0]?.categoryCode;
    assert.ok(code, "a category to set the norm of");
    const material = "Манжета ремонтная Ду100";

    const inputs = page.locator("[data-testid=inputs]");
    assert.equal(await inputs.getAttribute("data-editable"), "yes");
    await inputs.locator("#norm-filter").fill(code);
    const row = inputs.locator(`tbody[data-category="${code}"]`);
    await row.locator("[data-testid=edit]").click();
    const form = row.locator("[data-testid=norm-form]");
    await form.locator("input[name=crewHours]").fill("3,5");
    // Refused here first: a negative quantity.
    await form.locator("input[name=vehicleHours]").fill("-1");
    await form.locator("[data-testid=norm-save]").click();
    await form.locator("[data-testid=problem]").first().waitFor({ timeout: WAIT });
    await form.locator("input[name=vehicleHours]").fill("2,75");
    await form.locator("[data-testid=add-material]").click();
    await form.locator("input[name=materialName]").last().fill(material);
    await form.locator("input[name=materialUnit]").last().fill("шт");
    await form.locator("input[name=materialPer]").last().fill("1,5");
    await form.locator("[data-testid=norm-save]").click();
    await inputs.locator("[data-testid=inputs-notice]").waitFor({ timeout: WAIT });
    assert.equal(await row.locator("[data-testid=vehicle-hours]").innerText(), "2,75");

    const after = await apiPlan();
    const vehicles = after.reduce((s, o) => s + o.vehiclesNeeded, 0);
    const vehicleHours = after.reduce((s, o) => s + o.vehicleHours, 0);
    assert.ok(!close(vehicleHours, before.reduce((s, o) => s + o.vehicleHours, 0)), "the norm changes the vehicle-hours");
    await until("the page shows the replanned vehicles", async () =>
      (await page.locator("[data-testid=city-vehicles]").getAttribute("data-value")) === String(vehicles) &&
      close(Number(await page.locator("[data-testid=city-vehicle-hours]").getAttribute("data-value")), vehicleHours),
    );
    assert.equal(await page.locator("[data-testid=total-vehicles]").innerText(), String(vehicles));
    const totals = materialTotals(after);
    assert.ok(totals.get(`${material}|шт`) > 0, "the material is planned");
    const shown = await page.locator("[data-testid=city-materials] tr[data-material]").evaluateAll((trs) =>
      trs.map((tr) => [tr.dataset.material, Number(tr.dataset.value)]),
    );
    assert.equal(shown.length, totals.size, "a line per material");
    for (const [k, v] of shown) assert.ok(close(v, totals.get(k)), `${k}: ${v} against ${totals.get(k)}`);
    // Per organization too: every organization's vehicles, and the material where it is used.
    for (const o of after) {
      const res = page.locator(`[data-testid=resources-table] tbody[data-org="${o.organizationId}"]`);
      assert.equal(await res.locator("[data-testid=vehicles]").innerText(), String(o.vehiclesNeeded), `${o.organizationId}: vehicles`);
      const m = o.materials.find((x) => x.name === material);
      if (m) assert.ok(close(Number(await res.locator(`li[data-material="${material}|шт"]`).getAttribute("data-value")), m.quantity));
    }
    assertRowsMatch(await crewRows(page), after);

    // The norm's history names the admin and what changed.
    await row.locator("[data-testid=history]").click();
    const history = row.locator("[data-testid=history-list] > li").last();
    await history.waitFor({ timeout: WAIT });
    assert.equal(await history.getAttribute("data-actor"), ADMIN_SUBJECT);
    assert.match(await history.innerText(), /3,5|3\.5/);
  });

  it("an admin's working hours change that organization's row to what the API then plans", async () => {
    needsPlan();
    const page = pages.admin;
    const before = await apiPlan();
    // An organization working 08–20 every day: the office week makes a difference it must show.
    const { workingHours } = await asAdmin(`query { workingHours { organizationId startHour endHour days } }`);
    const daily = workingHours.find((h) => h.startHour === 8 && h.endHour === 20 && h.days.length === 7 && before.find((o) => o.organizationId === h.organizationId)?.expectedRequests > 0);
    assert.ok(daily, "an organization working 08–20 daily");
    const id = daily.organizationId;
    const row = page.locator(`[data-testid=hours-table] tbody[data-org="${id}"]`);
    await row.locator("[data-testid=edit]").click();
    const form = row.locator("[data-testid=hours-form]");
    // Refused here first: the day must end after it starts.
    await form.locator("select[name=startHour]").selectOption("18");
    await form.locator("select[name=endHour]").selectOption("9");
    await form.locator("[data-testid=hours-save]").click();
    await form.locator("[data-testid=problem]").waitFor({ timeout: WAIT });
    await form.locator("[data-testid=preset]").first().click(); // Mon–Fri 08–17
    await form.locator("[data-testid=hours-save]").click();
    await page.locator("[data-testid=inputs-notice]").getByText("Часы работы сохранены").waitFor({ timeout: WAIT });
    assert.equal(await row.locator("[data-testid=hours]").innerText(), "08:00–17:00");
    assert.equal(await row.locator("[data-testid=days]").getAttribute("data-days"), "1,2,3,4,5");

    const after = await apiPlan();
    const was = before.find((o) => o.organizationId === id);
    const now = after.find((o) => o.organizationId === id);
    assert.ok(was.crewsNeeded !== now.crewsNeeded || was.complianceConfigured !== now.complianceConfigured, "the hours change the plan");
    await until("the organization's row is replanned", async () => {
      const r = (await crewRows(page)).find((x) => x.id === id);
      return r.needed === (now.crewsNeeded === null ? "" : String(now.crewsNeeded)) && Math.abs(Number(r.compliance) - now.complianceConfigured) < 1e-4;
    });
    assertRowsMatch(await crewRows(page), after);
    // The history of the hours names the admin too.
    await row.locator("[data-testid=history]").click();
    await row.locator(`[data-testid=history-list] > li[data-actor="${ADMIN_SUBJECT}"]`).waitFor({ timeout: WAIT });
  });

  it("a supervisor drafts an appeal below target, edits it, meets a conflict, marks it sent and downloads it", async () => {
    const page = (pages.appeals = await loggedIn(server.tokens.SUPERVISOR, "#/supervisor"));
    await page.click("header nav a[href='#/appeals']");
    await page.waitForURL((u) => u.hash === "#/appeals", { timeout: WAIT });
    const section = page.locator("[data-testid=draft-section]");
    await section.locator("[data-testid=weeks-8]").click();
    await section.locator("[data-testid=regional-table]").waitFor({ timeout: WAIT });
    const from = await section.getAttribute("data-from");
    const to = await section.getAttribute("data-to");
    assert.ok(Date.parse(to) - Date.parse(from) >= 49 * 86_400_000, "eight weeks, the first from its Monday");
    const { organizationPerformance: perf } = await asSupervisor(PERFORMANCE, { from, to, target: 0.9 });
    const below = perf.filter((p) => p.total.compliance !== null && p.total.compliance < 0.9);
    assert.ok(below.length >= 2, `the demo has regional organizations below 90 % (${below.length})`);
    assert.equal(await section.locator("tbody[data-below=yes]").count(), below.length);
    const org = below[0];
    const row = section.locator(`tbody[data-org="${org.organization.id}"]`);
    assert.equal(await row.locator("[data-testid=late]").innerText(), String(org.total.late));
    assert.equal(await row.locator("[data-testid=open-overdue]").innerText(), String(org.total.openOverdue));

    // A refusal by the server is said with its reason: here the figures "changed" between the list and the draft.
    await page.route("**/graphql", async (route) => {
      const body = route.request().postDataJSON();
      if (!body?.query?.includes("draftAppeal")) return route.continue();
      await route.continue({ postData: JSON.stringify({ ...body, variables: { ...body.variables, target: 0.5 } }) });
    });
    await row.locator("[data-testid=draft]").click();
    await section.locator("[data-testid=draft-refused]").waitFor({ timeout: WAIT });
    assert.match(await section.locator("[data-testid=server-message]").innerText(), /target/);
    await page.unroute("**/graphql");

    await row.locator("[data-testid=draft]").click();
    await page.waitForURL((u) => /^#\/appeals\/\w+$/.test(u.hash), { timeout: WAIT });
    const id = new URL(page.url()).hash.split("/")[2];
    const panel = page.locator("[data-testid=appeal-panel]");
    await panel.locator(`[data-appeal="${id}"]`).waitFor({ timeout: WAIT });
    assert.equal(await panel.locator("[data-testid=appeal-org]").innerText(), org.organization.name);
    assert.equal(await panel.locator("[data-testid=status]").first().getAttribute("data-status"), "DRAFT");
    // The attachment: as many requests as the analysis counts late and open overdue for the same period.
    const expected = org.total.late + org.total.openOverdue;
    assert.equal(Number(await panel.locator("[data-testid=late-count]").getAttribute("data-count")), expected);
    assert.equal(await panel.locator("[data-testid=late-requests] tbody[data-number]").count(), expected);
    assert.equal(await panel.locator("[data-testid=fig-late]").innerText(), String(org.total.late));
    assert.equal(await panel.locator("[data-testid=fig-open-overdue]").innerText(), String(org.total.openOverdue));
    const first = panel.locator("[data-testid=late-number]").first();
    const number = await first.innerText();
    assert.equal(await first.getAttribute("href"), `#/search?q=${encodeURIComponent(number)}`);
    // The list shows it, newest first.
    const listed = page.locator("[data-testid=appeal-list] tbody[data-appeal]").first();
    assert.equal(await listed.getAttribute("data-appeal"), id);

    assert.deepEqual(await axeViolations(page), []);

    // Edit the letter.
    const form = panel.locator("[data-testid=letter-form]");
    const addition = "Просим сообщить о принятых мерах до конца месяца (проверка e2e).";
    const body = await form.locator("textarea[name=body]").inputValue();
    await form.locator("textarea[name=body]").fill(`${body}\n${addition}`);
    await form.locator("[data-testid=save-letter]").click();
    await panel.locator("[data-testid=notice]").waitFor({ timeout: WAIT });
    let stored = (await asSupervisor(APPEAL, { id })).appeal;
    assert.ok(stored.body.endsWith(addition), "the edit is stored");
    assert.equal(stored.history.at(-1).kind, "EDITED");

    // Someone else edits it meanwhile: the page's save is refused, says so, and loads the current version.
    await asSupervisor(
      `mutation($id: ID!, $v: Int!, $s: String!, $b: String!) { editAppeal(id: $id, expectedVersion: $v, subject: $s, body: $b) { version } }`,
      { id, v: stored.version, s: stored.subject, b: `${stored.body}\nДобавлено коллегой.` },
    );
    await form.locator("input[name=subject]").fill(`${stored.subject} (исправлено)`);
    await form.locator("[data-testid=save-letter]").click();
    await panel.locator("[data-testid=conflict]").waitFor({ timeout: WAIT });
    assert.match(await panel.locator("[data-testid=error]").innerText(), /кто-то другой/);
    await panel.locator("[data-testid=unsaved]").waitFor({ timeout: WAIT });
    await panel.locator("[data-testid=reload]").click();
    await until("the current version is loaded", async () => (await form.locator("textarea[name=body]").inputValue()).endsWith("Добавлено коллегой."));

    // Mark it sent with the outgoing number.
    await panel.locator("[data-testid=send]").click();
    await panel.locator("[data-testid=send-form] input[name=outgoingNumber]").fill("01-12/345");
    await panel.locator("[data-testid=send-save]").click();
    await panel.locator("[data-status=SENT]").first().waitFor({ timeout: WAIT });
    assert.match(await panel.locator("[data-testid=status]").first().innerText(), /01-12\/345/);
    stored = (await asSupervisor(APPEAL, { id })).appeal;
    assert.equal(stored.status, "SENT");
    assert.equal(stored.outgoingNumber, "01-12/345");
    assert.equal(await panel.locator("[data-testid=letter-form]").count(), 0, "a sent letter is no longer edited");
    await listed.locator("[data-status=SENT]").waitFor({ timeout: WAIT });

    // The Word letter: downloaded by the page, and fetched with the token.
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: WAIT }), panel.locator("[data-testid=download]").click()]);
    assert.match(download.suggestedFilename(), /\.docx$/);
    const saved = readFileSync(await download.path());
    assert.equal(saved.subarray(0, 2).toString(), "PK");
    const res = await fetch(server.base + stored.docxUrl, { headers: { authorization: `Bearer ${server.tokens.SUPERVISOR}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /wordprocessingml/);
    const docx = Buffer.from(await res.arrayBuffer());
    assert.equal(docx.subarray(0, 2).toString(), "PK");
    const xml = unzipEntry(docx, "word/document.xml");
    assert.ok(xml.includes(org.organization.name.replace(/"/g, "&quot;")) || xml.includes(org.organization.name), "the letter names the organization");
    assert.ok(xml.includes("01-12/345"), "the letter carries its outgoing number");
    assert.equal((await fetch(server.base + stored.docxUrl)).status, 401, "not without a token");

    await page.locator("[data-testid=appeal-list-section]").evaluate((e) => e.scrollIntoView({ block: "start" }));
    await page.screenshot({ path: join(SHOTS, "appeals.png") });
    // A late request's number opens that request; Back returns to the appeal.
    await panel.locator("[data-testid=late-number]").first().click();
    await page.waitForURL((u) => u.hash.startsWith("#/request/"), { timeout: WAIT });
    await page.goBack();
    await page.waitForURL((u) => u.hash === `#/appeals/${id}`, { timeout: WAIT });
    await panel.locator("[data-testid=late-count]").waitFor({ timeout: WAIT });
    state.below = below;
    state.firstId = id;
  });

  it("a second appeal is withdrawn with a reason after a second ask, and its history says who and why", async () => {
    const page = pages.appeals;
    const org = state.below[1];
    const section = page.locator("[data-testid=draft-section]");
    await section.locator(`tbody[data-org="${org.organization.id}"] [data-testid=draft]`).click();
    await page.waitForURL((u) => /^#\/appeals\/\w+$/.test(u.hash) && u.hash !== `#/appeals/${state.firstId}`, { timeout: WAIT });
    const panel = page.locator("[data-testid=appeal-panel]");
    await panel.locator("[data-testid=appeal-org]").getByText(org.organization.name).waitFor({ timeout: WAIT });
    const id = new URL(page.url()).hash.split("/")[2];
    assert.equal(await page.locator("[data-testid=appeal-list] tbody[data-appeal]").first().getAttribute("data-appeal"), id);

    await panel.locator("[data-testid=withdraw]").click();
    const form = panel.locator("[data-testid=withdraw-form]");
    await form.locator("textarea[name=reason]").fill("коротко");
    await form.locator("[data-testid=withdraw-next]").click();
    await form.locator("[data-testid=problem]").waitFor({ timeout: WAIT });
    assert.equal(await form.locator("[data-testid=withdraw-confirm]").count(), 0, "too short a reason is not asked about");
    const reason = "Цифры уточняются, обращение будет составлено заново";
    await form.locator("textarea[name=reason]").fill(reason);
    await form.locator("[data-testid=withdraw-next]").click();
    await form.locator("[data-testid=withdraw-confirm]").waitFor({ timeout: WAIT });
    await form.locator("[data-testid=withdraw-yes]").click();
    await panel.locator("[data-testid=withdrawn]").waitFor({ timeout: WAIT });
    const stored = (await asSupervisor(APPEAL, { id })).appeal;
    assert.equal(stored.status, "WITHDRAWN");
    assert.equal(stored.withdrawalReason, reason);
    const last = panel.locator("[data-testid=appeal-history] > li").last();
    assert.equal(await last.getAttribute("data-kind"), "WITHDRAWN");
    assert.equal(await last.getAttribute("data-actor"), SUPERVISOR_SUBJECT);
    assert.match(await last.innerText(), /заново/);
    assert.equal(await panel.locator("[data-testid=withdraw], [data-testid=send]").count(), 0, "nothing more to do with it");
  });

  it("on a phone the plan and the appeals read in one column", async () => {
    needsPlan();
    const phone = (pages.phone = await loggedIn(server.tokens.SUPERVISOR, "#/supervisor", { width: 390, height: 844 }));
    await openPlan(phone);
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the plan fits the phone's width (${width})`);
    await phone.locator("#pl-crews-h").evaluate((e) => e.scrollIntoView({ block: "start" }));
    await phone.screenshot({ path: join(SHOTS, "plan-phone.png") });
    const { appeals } = await asSupervisor(`query { appeals(first: 5) { id status } }`);
    const sent = appeals.find((a) => a.status === "SENT");
    await phone.goto(`${server.base}/#/appeals/${sent.id}`);
    await phone.locator("[data-testid=appeal-panel] [data-testid=late-count]").waitFor({ timeout: WAIT });
    assert.ok((await phone.evaluate(() => document.documentElement.scrollWidth)) <= 390, "the appeals fit the phone's width");
    await phone.locator("[data-testid=appeal-panel]").evaluate((e) => e.scrollIntoView({ block: "start" }));
    await phone.screenshot({ path: join(SHOTS, "appeals-phone.png") });
  });
});

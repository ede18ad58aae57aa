// The supervisor's analysis in a real browser against a real demo city with
// two months of history: compliance per organization by week, the daily
// report, the escalation feed of the last 24 hours and the board as it stood
// an hour ago. The test never trusts the server's arithmetic: it reads every
// request's raw history, folds it itself (who held the request, when its
// deadline passed, when it was resolved) and checks the page's figures — and
// the lists behind them — against its own counts. Screenshots go to
// docs/screenshots for the README.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { gql, root, startServer } from "./server.mjs";
import { launch } from "./browser.mjs";
import { loggedIn as login, until, WAIT } from "./helpers.mjs";

const SHOTS = join(root, "docs", "screenshots");
const OUT = join(root, "ui-client", "e2e", "out");
const CITY_TZ = "Europe/Moscow";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Nine weeks of past activity: the default eight-week analysis is full, the week before it feeds its first deadlines. */
const DEMO_DAYS = 63;
const FEED_KINDS = ["WARNING", "OVERDUE", "ESCALATED", "REJECTED", "REOPENED", "RAISED_TO_EMERGENCY"];
const OPEN = ["REGISTERED", "DISPATCHED", "IN_PROGRESS", "OVERDUE"];
const FINISHED = ["RESOLVED", "CLOSED", "CANCELLED"];

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let server;
let browser;
const pages = {};
const state = {};
/** A page logged in with `token` on the test's server. */
const loggedIn = (token, hash, viewport) => login(browser, server.base, token, hash, viewport);

// ---- city time, written here again so the page's own helpers are not what is tested ----

/** The city date `YYYY-MM-DD` at `ms`. */
const cityDate = (ms) => new Intl.DateTimeFormat("en-CA", { timeZone: CITY_TZ }).format(new Date(ms));
/** The city's offset from UTC at `ms`, in ms. */
function cityOffset(ms) {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", { timeZone: CITY_TZ, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(new Date(ms))
      .map((x) => [x.type, x.value]),
  );
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}
/** The instant of city midnight starting `date`. */
const cityMidnight = (date) => {
  const wall = Date.parse(`${date}T00:00:00Z`);
  return wall - cityOffset(wall - cityOffset(wall));
};
const addDays = (date, n) => new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
const mondayOf = (date) => addDays(date, -((new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7));
/** `YYYY-MM-DDTHH:MM` in city time, as a datetime-local input holds it. */
const cityLocal = (ms) => {
  const wall = new Date(ms + cityOffset(ms)).toISOString();
  return wall.slice(0, 16);
};

// ---- the raw histories and their fold ----

const HISTORIES = `query($after: String, $first: Int!) {
  list: requests(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id number registeredAt address { label }
      history { seq kind at note status
        request { organization { id } deadline deadlineClass category { code } resolvedLate } } } }
  }
}`;

/** Every request with its history, read page by page as the API gives it. */
async function histories() {
  const out = [];
  let after = null;
  for (;;) {
    const { list } = await gql(server.base, server.tokens.SUPERVISOR, HISTORIES, { after, first: 100 });
    for (const { node } of list.edges) {
      out.push({
        id: node.id,
        number: node.number,
        registeredAt: Date.parse(node.registeredAt),
        label: node.address.label,
        events: node.history.map((e) => ({
          seq: e.seq,
          kind: e.kind,
          at: Date.parse(e.at),
          note: e.note,
          // The request right after the event: read only for what an event's
          // kind and note do not carry (a reassignment's organization, a raised
          // deadline, a correction), and to check this fold against the server's.
          after: {
            status: e.status,
            org: e.request.organization?.id ?? null,
            deadline: Date.parse(e.request.deadline),
            cls: e.request.deadlineClass,
            category: e.request.category?.code ?? null,
            late: e.request.resolvedLate,
          },
        })),
      });
    }
    if (!list.pageInfo.hasNextPage) break;
    after = list.pageInfo.endCursor;
  }
  state.fetchedAt = Date.now();
  return out;
}

/**
 * One event folded into a request's state, by the regulation's rules: the
 * organization a dispatch names, acceptance, resolution (late when after the
 * deadline), the overdue mark (whoever holds the request then is the one it
 * counts against), reopening, closing, cancelling.
 */
function step(s, e) {
  const a = e.after;
  if (e.kind === "REGISTERED") {
    s = { org: a.org, deadline: a.deadline, cls: a.cls, category: a.category, accepted: false, overdue: false, holder: null, status: "REGISTERED", resolvedAt: null, late: null, overdueAt: null };
  } else s = { ...s };
  switch (e.kind) {
    case "DISPATCHED":
      s.org = e.note; // the note of a dispatch names the organization
      s.accepted = false;
      break;
    case "ACCEPTED":
      s.accepted = true;
      break;
    case "RESOLVED":
      s.resolvedAt = e.at;
      s.late = e.at > s.deadline;
      s.status = "RESOLVED";
      break;
    case "REJECTED":
      s.org = null;
      s.accepted = false;
      break;
    case "REASSIGNED":
      s.org = a.org;
      s.accepted = false;
      break;
    case "RAISED_TO_EMERGENCY":
      s.cls = "EMERGENCY";
      s.deadline = a.deadline;
      break;
    case "CANCELLED":
      s.status = "CANCELLED";
      break;
    case "REOPENED":
      s.resolvedAt = null;
      s.late = null;
      s.accepted = false;
      s.status = "REGISTERED";
      break;
    case "CLOSED":
      s.status = "CLOSED";
      break;
    case "OVERDUE":
    case "ESCALATED":
      if (!s.overdue) s.overdueAt = e.at;
      if (e.kind === "OVERDUE" && s.holder == null) s.holder = s.org;
      s.overdue = true;
      break;
    case "CORRECTED":
    case "LINKED_TO_INCIDENT":
      if (a.org !== s.org) s.accepted = false;
      Object.assign(s, { org: a.org, deadline: a.deadline, cls: a.cls, category: a.category });
      break;
  }
  if (!FINISHED.includes(s.status)) s.status = s.overdue ? "OVERDUE" : s.org == null ? "REGISTERED" : s.accepted ? "IN_PROGRESS" : "DISPATCHED";
  return s;
}

/** The request as it stood at `t`: its events before `t` (up to and including `t` when `inclusive`). */
function stateAt(r, t, inclusive = false) {
  let s = null;
  for (const e of r.events) {
    if (inclusive ? e.at > t : e.at >= t) break;
    s = step(s, e);
  }
  return s;
}

/** Where this fold and the server's disagree, event by event (expected: nowhere). */
function foldDisagreements(reqs) {
  const out = [];
  for (const r of reqs) {
    let s = null;
    for (const e of r.events) {
      s = step(s, e);
      const a = e.after;
      const mine = { status: s.status, org: s.org, deadline: s.deadline, late: s.resolvedAt ? s.late : null };
      const theirs = { status: a.status, org: a.org, deadline: a.deadline, late: a.late ?? null };
      if (JSON.stringify(mine) !== JSON.stringify(theirs)) out.push({ number: r.number, seq: e.seq, kind: e.kind, mine, theirs });
    }
  }
  return out;
}

/** The organization a request counts against: the one holding it when it was marked overdue, else the one holding it. */
const responsible = (s) => s.holder ?? s.org;

/** How a request judged at `t` ended up: resolved on time, late, or still open past the deadline. */
const outcomeOf = (s) => (s.resolvedAt != null ? (s.late ? "LATE" : "ON_TIME") : "OPEN_OVERDUE");

/** Every request due in `[from, to)` as it stood at `to`, with its organization, week and outcome. */
function judged(reqs, from, to) {
  const out = [];
  for (const r of reqs) {
    const s = stateAt(r, to);
    if (!s || s.status === "CANCELLED" || !(s.deadline >= from && s.deadline < to)) continue;
    const org = responsible(s);
    if (!org) continue;
    out.push({ r, s, org, week: mondayOf(cityDate(s.deadline)), outcome: outcomeOf(s) });
  }
  return out;
}

const FIELD = { ON_TIME: "onTime", LATE: "late", OPEN_OVERDUE: "openOverdue" };
/** On time, late and open overdue of some judged requests. */
function tally(items) {
  const t = { onTime: 0, late: 0, openOverdue: 0 };
  for (const i of items) t[FIELD[i.outcome]] += 1;
  return t;
}
const numbers = (items) => items.map((i) => i.r.number).sort();

/** What the page shows as a per cent: one decimal, Russian notation. */
const share = (t) => {
  const n = t.onTime + t.late + t.openOverdue;
  if (n === 0) return "—";
  return `${new Intl.NumberFormat("ru-RU", { maximumFractionDigits: 1 }).format(Math.round((t.onTime / n) * 1000) / 10)} %`;
};

/** Serious and critical accessibility violations axe-core finds on the page. */
async function axeViolations(page) {
  await page.addScriptTag({ path: axePath });
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** The requests behind a figure, as the page's drill-down lists them. */
async function drillNumbers(page, button) {
  if (await page.locator("[data-testid=drill]").count()) await page.locator("[data-testid=drill-close]").click();
  const expected = Number(await button.getAttribute("data-n"));
  await button.click();
  const drill = page.locator("[data-testid=drill]");
  const done = await until("the list behind the figure", async () => {
    if ((await drill.locator("[role=alert]").count()) > 0) return { failed: await drill.locator("[role=alert]").innerText() };
    return (await drill.getAttribute("data-count")) !== "" && { failed: null };
  });
  assert.equal(done.failed, null, "the list behind the figure loads");
  const listed = await drill.locator(".drill-list li").evaluateAll((ls) => ls.map((l) => l.dataset.number));
  return { expected, listed: listed.sort(), mismatch: await drill.locator(".bad").count() };
}

describe("the supervisor's analysis in the page", { concurrency: false }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer(
      {
        // The test reads every history in pages of a hundred; the page itself stays within the default.
        KONTAKT__GRAPHQL__MAX_COMPLEXITY: "100000000",
        // The sweep keeps the hourly board snapshots; every 2 s the first one is there at once.
        KONTAKT__JOBS__SLA_SWEEP: "*/2 * * * * *",
      },
      ["--demo-days", String(DEMO_DAYS)],
    );
    browser = await launch();
  });

  afterEach(async () => {
    mkdirSync(OUT, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      await page.screenshot({ path: join(OUT, `analysis-${name}.png`), fullPage: true }).catch(() => {});
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("analysis: each organization's figures by week equal the test's own counts, and each figure lists exactly its requests", async () => {
    // One building calls three times today: a repeat address of the organization its requests go to.
    const { addresses } = await gql(server.base, server.tokens.OPERATOR, `query { addresses(search: "Пушкинская", first: 1) { id label } }`);
    const repeated = [];
    for (let i = 0; i < 3; i++) {
      const { registerRequest } = await gql(
        server.base,
        server.tokens.OPERATOR,
        `mutation($a: ID!) { registerRequest(input: { addressId: $a, categoryCode: "no-cold-water", description: "Нет холодной воды, звоним снова" }) { number organization { id } } }`,
        { a: addresses[0].id },
      );
      repeated.push(registerRequest);
    }
    state.repeated = { org: repeated[0].organization.id, label: addresses[0].label, numbers: repeated.map((r) => r.number) };

    const page = await loggedIn(server.tokens.SUPERVISOR, "#/supervisor");
    pages.analysis = page;
    await page.click("nav a[href='#/analysis']");
    await page.locator(".org-card").first().waitFor({ timeout: WAIT });
    assert.match(await page.locator("[data-testid=formula]").innerText(), /исполнено в срок ÷ \(исполнено в срок \+ исполнено с нарушением срока \+ не исполнено/);
    const root_ = page.locator(".analysis");
    const from = Date.parse(await root_.getAttribute("data-from"));
    const to = Date.parse(await root_.getAttribute("data-to"));
    assert.equal(to - from > 49 * DAY && to - from <= 56 * DAY, true, "eight weeks from a Monday by default");
    assert.equal(cityDate(from), mondayOf(cityDate(from)), "the period starts on a Monday");

    const reqs = await histories();
    state.reqs = reqs;
    assert.ok(reqs.length > 300, `two months of requests: ${reqs.length}`);
    const off = foldDisagreements(reqs);
    assert.deepEqual(off.slice(0, 3), [], `the test's fold and the server's differ at ${off.length} events`);
    const mine = judged(reqs, from, to);
    const shown = await page.evaluate(() => {
      const read = (tr) => {
        const n = (c) => Number(tr.querySelector(`[data-col=${c}]`).dataset.n);
        return { onTime: n("onTime"), late: n("late"), openOverdue: n("openOverdue"), share: tr.querySelector("[data-col=compliance]").textContent };
      };
      return [...document.querySelectorAll(".org-card")].map((card) => ({
        org: card.dataset.org,
        column: card.closest("[data-testid^=column-]").dataset.testid,
        total: read(card.querySelector("[data-testid=total] tbody tr")),
        weeks: Object.fromEntries([...card.querySelectorAll("[data-testid=weeks] tr[data-week]")].map((tr) => [tr.dataset.week, read(tr)])),
      }));
    });
    const { organizations } = await gql(server.base, server.tokens.SUPERVISOR, `query { organizations { id subordination } }`);
    assert.deepEqual(shown.map((s) => s.org).sort(), organizations.map((o) => o.id).sort(), "every organization is shown");
    for (const s of shown) {
      const sub = organizations.find((o) => o.id === s.org).subordination;
      assert.equal(s.column, `column-${sub}`, `${s.org} in its own column`);
      const own = mine.filter((i) => i.org === s.org);
      const t = tally(own);
      assert.deepEqual(s.total, { ...t, share: share(t) }, `${s.org}: the whole period`);
      for (const [week, w] of Object.entries(s.weeks)) {
        const tw = tally(own.filter((i) => i.week === week));
        assert.deepEqual(w, { ...tw, share: share(tw) }, `${s.org}: the week of ${week}`);
      }
      const ownWeeks = new Set(own.map((i) => i.week));
      for (const w of ownWeeks) assert.ok(w in s.weeks, `${s.org}: the week of ${w} is shown`);
    }

    // One city and one regional organization, each with something late or open, and their busiest weeks.
    const busiest = (sub) =>
      shown
        .filter((s) => s.column === `column-${sub}`)
        .map((s) => ({ ...s, n: s.total.onTime + s.total.late + s.total.openOverdue }))
        .filter((s) => s.total.late + s.total.openOverdue > 0)
        .sort((a, b) => b.n - a.n)[0];
    const city = busiest("CITY");
    const regional = busiest("REGIONAL");
    assert.ok(city && regional, "a city and a regional organization with breaches");
    state.analysis = { from, to, city: city.org, regional: regional.org };

    for (const [org, col, outcome] of [
      [city.org, "late", "LATE"],
      [city.org, "openOverdue", "OPEN_OVERDUE"],
      [regional.org, "compliance", null],
    ]) {
      const want = mine.filter((i) => i.org === org && (outcome == null || i.outcome === outcome));
      if (want.length === 0) continue;
      const got = await drillNumbers(page, page.locator(`.org-card[data-org="${org}"] [data-testid=total] button[data-col=${col}]`));
      assert.equal(got.expected, want.length, `${org} ${col}: the figure`);
      assert.deepEqual(got.listed, numbers(want), `${org} ${col}: the requests behind it`);
      assert.equal(got.mismatch, 0, "the page finds its list as long as its figure");
    }

    await page.evaluate(() => scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, "analysis.png") });

    // A week of the regional organization, after choosing it: the drill-down opens too.
    await page.locator(`.org-card[data-org="${regional.org}"] [data-testid=select-org]`).click();
    const detail = page.locator(`[data-testid=detail][data-org="${regional.org}"]`);
    await detail.waitFor({ timeout: WAIT });
    const ownRegional = mine.filter((i) => i.org === regional.org);
    const week = Object.entries(regional.weeks).sort((a, b) => b[1].onTime + b[1].late + b[1].openOverdue - (a[1].onTime + a[1].late + a[1].openOverdue))[0][0];
    for (const [col, outcome] of [["onTime", "ON_TIME"], ["late", "LATE"], ["total", null]]) {
      const want = ownRegional.filter((i) => i.week === week && (outcome == null || i.outcome === outcome));
      if (want.length === 0) continue;
      const got = await drillNumbers(page, page.locator(`.org-card[data-org="${regional.org}"] tr[data-week="${week}"] button[data-col=${col}]`));
      assert.deepEqual([got.expected, got.listed], [want.length, numbers(want)], `${regional.org}, week of ${week}, ${col}`);
    }

    // By class and by category, the worst categories and the addresses that keep calling.
    const byClass = await detail.locator("[data-testid=by-class] tr[data-class]").evaluateAll((trs) =>
      trs.map((tr) => [tr.dataset.class, ["onTime", "late", "openOverdue"].map((c) => Number(tr.querySelector(`[data-col=${c}]`).dataset.n))]),
    );
    const classes = [...new Set(ownRegional.map((i) => i.s.cls))].sort((a, b) => ["EMERGENCY", "SHORT", "MEDIUM", "LONG"].indexOf(a) - ["EMERGENCY", "SHORT", "MEDIUM", "LONG"].indexOf(b));
    assert.deepEqual(byClass, classes.map((c) => { const t = tally(ownRegional.filter((i) => i.s.cls === c)); return [c, [t.onTime, t.late, t.openOverdue]]; }));
    const cats = {};
    for (const i of ownRegional) (cats[i.s.category] ??= []).push(i);
    const byCategory = await detail.locator("[data-testid=by-category] tr[data-category]").evaluateAll((trs) =>
      Object.fromEntries(trs.map((tr) => [tr.dataset.category, ["onTime", "late", "openOverdue"].map((c) => Number(tr.querySelector(`[data-col=${c}]`).dataset.n))])),
    );
    assert.deepEqual(byCategory, Object.fromEntries(Object.entries(cats).map(([c, items]) => { const t = tally(items); return [c, [t.onTime, t.late, t.openOverdue]]; })));
    const [worstCode, worstItems] = Object.entries(cats).sort((a, b) => b[1].length - a[1].length)[0];
    const got = await drillNumbers(page, detail.locator(`[data-testid=by-category] tr[data-category="${worstCode}"] button[data-col=total]`));
    assert.deepEqual([got.expected, got.listed], [worstItems.length, numbers(worstItems)], `category ${worstCode}`);
    const worst = Object.entries(cats)
      .map(([c, items]) => { const t = tally(items); return [c, t.onTime / items.length, items.length]; })
      .filter(([, x, n]) => n >= 3 && x < 1)
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5)
      .map(([c]) => c);
    const worstShown = await detail.locator("[data-testid=worst] li").evaluateAll((ls) => ls.map((l) => l.dataset.category));
    assert.deepEqual(worstShown, worst, "the worst categories");
    /** Buildings with three or more requests registered with `org` in the period, most first, as the page lists them. */
    const repeatOf = (org) => {
      const atAddress = {};
      for (const r of reqs) {
        const s = stateAt(r, to);
        if (s?.org === org && r.registeredAt >= from && r.registeredAt < to) atAddress[r.label] = (atAddress[r.label] ?? 0) + 1;
      }
      return Object.entries(atAddress)
        .filter(([, n]) => n >= 3)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, 10)
        .map(([label, n]) => [label, n, `#/search?q=${encodeURIComponent(label)}`]);
    };
    const repeatShown = (d) =>
      d.locator("[data-testid=repeat] li").evaluateAll((ls) =>
        ls.map((l) => [l.querySelector("a").textContent, Number(/\d+/.exec(l.querySelectorAll("a")[1].textContent)[0]), l.querySelector("a").getAttribute("href")]),
      );
    assert.deepEqual(await repeatShown(detail), repeatOf(regional.org), "repeat addresses");
    // The building that called three times today is among its organization's repeat addresses, and its link finds them.
    await page.locator(`.org-card[data-org="${state.repeated.org}"] [data-testid=select-org]`).click();
    const repeatedDetail = page.locator(`[data-testid=detail][data-org="${state.repeated.org}"]`);
    await repeatedDetail.waitFor({ timeout: WAIT });
    const shownRepeat = await repeatShown(repeatedDetail);
    assert.deepEqual(shownRepeat, repeatOf(state.repeated.org), `repeat addresses of ${state.repeated.org}`);
    assert.ok(shownRepeat.some(([label, n]) => label === state.repeated.label && n >= 3), `${state.repeated.label} is listed`);
    await repeatedDetail.locator("[data-testid=repeat] li a", { hasText: state.repeated.label }).first().click();
    await page.waitForURL((u) => u.hash === `#/search?q=${encodeURIComponent(state.repeated.label)}`, { timeout: WAIT });
    for (const n of state.repeated.numbers) await page.locator(`[data-testid=search-results] tr[data-number="${n}"]`).waitFor({ timeout: WAIT });
    await page.goBack();
    await page.locator(".org-card").first().waitFor({ timeout: WAIT });
    await page.locator(`.org-card[data-org="${regional.org}"] [data-testid=select-org]`).click();
    await detail.waitFor({ timeout: WAIT });

    assert.deepEqual(await axeViolations(page), [], "no serious accessibility violations on the analysis page");

    // A request of a list opens its page.
    await drillNumbers(page, page.locator(`.org-card[data-org="${regional.org}"] [data-testid=total] button[data-col=compliance]`));
    const first = page.locator("[data-testid=drill] .drill-list li a").first();
    const id = await first.locator("xpath=..").getAttribute("data-id");
    await first.click();
    await page.waitForURL((u) => u.hash === `#/request/${id}`, { timeout: WAIT });
    await page.goBack();
    await page.locator(".org-card").first().waitFor({ timeout: WAIT });
    await page.locator(`.org-card[data-org="${regional.org}"] [data-testid=select-org]`).click();
    await detail.waitFor({ timeout: WAIT });
    await page.evaluate(() => document.querySelector("[data-testid=detail]").scrollIntoView());
    await page.screenshot({ path: join(SHOTS, "analysis-detail.png") });

    // English: the same figures, the formula in English.
    await page.click("[data-testid=lang]");
    await page.getByText("Compliance = resolved on time ÷ (resolved on time + resolved late + still open past the deadline)").waitFor({ timeout: WAIT });
    const cityTotal = page.locator(`.org-card[data-org="${city.org}"] [data-testid=total] [data-col=late]`);
    assert.equal(Number(await cityTotal.getAttribute("data-n")), city.total.late);
    await page.click("[data-testid=lang]");
  });

  it("analysis on a phone: one column, figures large enough to press", async () => {
    const page = await loggedIn(server.tokens.ADMIN, "#/supervisor", { width: 390, height: 844 });
    await page.goto(`${server.base}/#/analysis`);
    await page.locator(".org-card").first().waitFor({ timeout: WAIT });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling: ${width}`);
    const box = await page.locator(".org-card button.fig").first().boundingBox();
    assert.ok(box.height >= 24, `a figure is large enough to press: ${box.height}`);
    await page.screenshot({ path: join(SHOTS, "analysis-phone.png") });
    // The admin sees the same figures as the supervisor.
    const t = page.locator(`.org-card[data-org="${state.analysis.city}"] [data-testid=total] [data-col=onTime]`);
    assert.ok(Number(await t.getAttribute("data-n")) >= 0);
    await page.context().close();
  });

  it("daily report: yesterday's due / on time / late / open equal the test's own counts at the 08:00 cut-off", async () => {
    const page = await loggedIn(server.tokens.ADMIN, "#/supervisor");
    pages.report = page;
    await page.click("nav a[href='#/report']");
    const table = page.locator("[data-testid=report]");
    await table.waitFor({ timeout: WAIT });
    const now = Date.now();
    const yesterday = addDays(cityDate(now), -1);
    assert.equal(await page.inputValue("[data-testid=report-date]"), yesterday, "yesterday in city time by default");
    assert.equal(await table.getAttribute("data-date"), yesterday);
    const formula = page.locator("[data-testid=formula]");
    assert.equal(await formula.getAttribute("data-formula"), "2");
    assert.match(await formula.innerText(), /Формула 2.*08:00/s);

    const start = cityMidnight(yesterday);
    const end = cityMidnight(addDays(yesterday, 1));
    const generated = Date.parse(await formula.getAttribute("data-generated"));
    const judgedAt = Math.min(end + 8 * HOUR, generated);
    // The cut-off is past: the histories read for the analysis hold everything before it.
    const reqs = judgedAt < state.fetchedAt - 1000 ? state.reqs : await histories();
    const due = [];
    for (const r of reqs) {
      const s = stateAt(r, judgedAt);
      if (!s || s.status === "CANCELLED" || !(s.deadline >= start && s.deadline < end)) continue;
      due.push({ r, s, org: responsible(s) ?? "", cls: s.cls, outcome: outcomeOf(s) });
    }
    assert.ok(due.length > 0, "something fell due yesterday");
    const rows = await table.locator("tr[data-class]").evaluateAll((trs) =>
      trs.map((tr) => ({
        org: tr.dataset.org,
        cls: tr.dataset.class,
        figures: ["due", "dueOnTime", "dueLate", "dueOpen"].map((c) => Number(tr.querySelector(`[data-col=${c}]`).dataset.n ?? tr.querySelector(`[data-col=${c}]`).textContent)),
      })),
    );
    const count = (items) => { const t = tally(items); return [items.length, t.onTime, t.late, t.openOverdue]; };
    for (const row of rows) {
      const items = due.filter((d) => (row.org === "*" || d.org === row.org) && (["ALL", "CITY"].includes(row.cls) || d.cls === row.cls));
      assert.deepEqual(row.figures, count(items), `${row.org || "no organization"} ${row.cls}`);
    }
    for (const d of due) assert.ok(rows.some((r) => r.org === d.org && r.cls === d.cls), `a row for ${d.org || "no organization"} ${d.cls}`);

    // The whole city's due figure and one organization's late or open figure list exactly their requests.
    let got = await drillNumbers(page, table.locator("tr.city-total button[data-col=due]"));
    assert.deepEqual([got.expected, got.listed], [due.length, numbers(due)], "the city's due requests");
    const breach = due.find((d) => d.org && d.outcome !== "ON_TIME") ?? due.find((d) => d.org);
    if (breach) {
      const col = { ON_TIME: "dueOnTime", LATE: "dueLate", OPEN_OVERDUE: "dueOpen" }[breach.outcome];
      const want = due.filter((d) => d.org === breach.org && d.cls === breach.cls && d.outcome === breach.outcome);
      got = await drillNumbers(page, table.locator(`tr[data-org="${breach.org}"][data-class="${breach.cls}"] button[data-col=${col}]`));
      assert.deepEqual([got.expected, got.listed], [want.length, numbers(want)], `${breach.org} ${breach.cls} ${col}`);
    }
    await page.evaluate(() => scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, "report.png") });
    assert.deepEqual(await axeViolations(page), [], "no serious accessibility violations on the report page");

    // The files, in the page's language: the figures, the open requests, the workbook.
    await page.locator("[data-testid=drill-close]").click();
    const save = async (button, path) => {
      const [res, file] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith(`/reports/daily/${path}`)),
        page.waitForEvent("download"),
        page.click(`[data-testid=${button}]`),
      ]);
      assert.equal(res.status(), 200, path);
      return readFileSync(await file.path());
    };
    assert.match((await save("csv", `${yesterday}.csv`)).toString("utf8"), /Срок истёк за день/);
    assert.match((await save("csv-open", `${yesterday}-open.csv`)).toString("utf8"), /Номер/);
    assert.equal((await save("xlsx", `${yesterday}.xlsx`)).subarray(0, 2).toString("latin1"), "PK", "a workbook");
    await page.click("[data-testid=lang]");
    await page.getByText("Formula 2. A day's compliance = due on time ÷ due that day.").waitFor({ timeout: WAIT });
    assert.match((await save("csv", `${yesterday}.csv?lang=en`)).toString("utf8"), /Due that day/);
    await page.click("[data-testid=lang]");

    const phone = await loggedIn(server.tokens.SUPERVISOR, "#/supervisor", { width: 390, height: 844 });
    await phone.goto(`${server.base}/#/report`);
    await phone.locator("[data-testid=report]").waitFor({ timeout: WAIT });
    assert.ok((await phone.evaluate(() => document.documentElement.scrollWidth)) <= 390, "no sideways scrolling on a phone");
    await phone.screenshot({ path: join(SHOTS, "report-phone.png") });
    await phone.context().close();
  });

  it("supervisor: the feed opens with the last 24 hours, and the board of an hour ago equals the test's fold", async () => {
    const page = await loggedIn(server.tokens.SUPERVISOR, "#/supervisor");
    pages.supervisor = page;
    const card = page.locator("[data-testid=feed-card][data-loaded=true]");
    await card.waitFor({ timeout: WAIT });
    const since = Date.parse(await card.getAttribute("data-since"));
    assert.ok(Math.abs(Date.now() - DAY - since) < 60_000, "24 hours back");
    const reqs = await histories();
    const events = reqs
      .flatMap((r) => r.events.filter((e) => e.at > since && FEED_KINDS.includes(e.kind)).map((e) => ({ key: `${r.id}:${e.seq}`, at: e.at, kind: e.kind })))
      .sort((a, b) => b.at - a.at);
    const feed = await page.locator("[data-testid=feed] li").evaluateAll((ls) => ls.map((l) => ({ key: l.dataset.key, at: Date.parse(l.dataset.at), kind: l.dataset.kind })));
    // Events after the histories were read arrived live; they are the page's own news.
    const later = feed.filter((f) => f.at > state.fetchedAt - 1000 && !events.some((e) => e.key === f.key));
    const shown = feed.filter((f) => !later.includes(f));
    const top = events.slice(0, 50 - later.length);
    if (events.length <= 50 - later.length) {
      assert.deepEqual(shown.map((f) => f.key).sort(), top.map((e) => e.key).sort(), "the feed holds every such event of the last 24 hours");
    } else {
      // Events of one moment may tie at the 50th place: any of them may be the one shown.
      const edge = top[top.length - 1].at;
      const must = events.filter((e) => e.at > edge).map((e) => e.key);
      const may = new Set(events.filter((e) => e.at >= edge).map((e) => e.key));
      assert.equal(shown.length, top.length, "the 50 newest");
      for (const k of must) assert.ok(shown.some((f) => f.key === k), `the feed shows ${k}`);
      for (const f of shown) assert.ok(may.has(f.key), `the feed shows only the newest: ${f.key}`);
    }
    assert.ok(feed.length > 0, "the last 24 hours had escalations");
    for (let i = 1; i < feed.length; i++) assert.ok(feed[i - 1].at >= feed[i].at, "newest first");
    // A request of the feed opens its page.
    const link = page.locator("[data-testid=feed] li a").first();
    const href = await link.getAttribute("href");
    assert.match(href, /^#\/request\/\w+$/);

    // The board as it stood an hour ago, in city time, in place of the live one.
    const at = cityLocal(Date.now() - HOUR);
    await until("the first board snapshot is kept", async () => {
      const r = await fetch(`${server.base}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${server.tokens.SUPERVISOR}` },
        body: JSON.stringify({ query: `query($at: DateTime!) { slaBoard(at: $at) { at } }`, variables: { at: new Date(Date.now() - HOUR).toISOString() } }),
      });
      return !(await r.json()).errors;
    });
    await page.fill("#as-of", at);
    await page.click("[data-testid=show-past]");
    const past = page.locator("[data-testid=sla-board-past]");
    await past.waitFor({ timeout: WAIT });
    assert.equal(await page.locator("[data-testid=sla-board]").count(), 0, "the past board replaces the live one");
    const moment = Date.parse(await past.getAttribute("data-at"));
    assert.equal(cityLocal(moment), at, "the moment typed, read as city time");
    assert.match(await page.locator("[data-testid=as-of-label]").innerText(), new RegExp(at.slice(11, 16)));
    const midnight = cityMidnight(cityDate(moment));
    const own = { unrouted: 0, rows: {} };
    for (const r of reqs) {
      const s = stateAt(r, moment, true);
      if (!s) continue;
      if ((s.org == null && ["REGISTERED", "OVERDUE"].includes(s.status)) || (s.org && s.status === "REGISTERED")) own.unrouted += 1;
      else if (s.org) {
        const row = (own.rows[s.org] ??= { dispatched: 0, inProgress: 0, overdue: 0, resolvedToday: 0 });
        if (s.status === "DISPATCHED") row.dispatched += 1;
        if (s.status === "IN_PROGRESS") row.inProgress += 1;
        if (s.status === "OVERDUE") row.overdue += 1;
        if (["RESOLVED", "CLOSED"].includes(s.status) && s.resolvedAt >= midnight) row.resolvedToday += 1;
      }
    }
    const board = await past.locator("tbody tr").evaluateAll((trs) =>
      Object.fromEntries(trs.map((tr) => [tr.dataset.org, Object.fromEntries(["dispatched", "inProgress", "overdue", "resolvedToday"].map((c) => [c, Number(tr.querySelector(`[data-col=${c}]`).textContent)]))])),
    );
    for (const [org, row] of Object.entries(board)) {
      assert.deepEqual(row, own.rows[org] ?? { dispatched: 0, inProgress: 0, overdue: 0, resolvedToday: 0 }, `${org} an hour ago`);
    }
    assert.equal(Number(await page.locator("[data-testid=unrouted-count-past]").innerText()), own.unrouted, "unrouted an hour ago");
    await page.screenshot({ path: join(SHOTS, "supervisor-history.png") });
    assert.deepEqual(await axeViolations(page), [], "no serious accessibility violations on the board");

    await page.click("[data-testid=back-to-live]");
    await page.locator("[data-testid=sla-board]").waitFor({ timeout: WAIT });

    // Before the first snapshot the board is not kept: the page says from when it is.
    await page.fill("#as-of", cityLocal(Date.now() - 30 * DAY));
    await page.click("[data-testid=show-past]");
    const error = await page.locator("[data-testid=past-error]").innerText({ timeout: WAIT });
    assert.match(error, /Доска хранится только с \d\d\.\d\d\.\d{4}, \d\d:\d\d/);
    await page.locator("[data-testid=sla-board]").waitFor({ timeout: WAIT });

    // A request of the overdue list opens its page.
    const overdue = page.locator("[data-testid=overdue] li a").first();
    const to = await overdue.getAttribute("href");
    await overdue.click();
    await page.waitForURL((u) => u.hash === to, { timeout: WAIT });
  });

  it("an operator is neither offered nor let into the analysis pages", async () => {
    const page = await loggedIn(server.tokens.OPERATOR, "#/operator");
    const nav = await page.locator("header nav a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    assert.ok(!nav.includes("#/analysis") && !nav.includes("#/report"), `an operator's menu: ${nav}`);
    for (const hash of ["#/analysis", "#/report"]) {
      await page.goto(`${server.base}/${hash}`);
      await page.waitForURL((u) => u.hash === "#/operator", { timeout: WAIT });
    }
    await page.context().close();
  });
});

/**
 * The supervisor's analysis: each organization's compliance with the
 * regulated deadlines by week, city and regional organizations side by side,
 * a trend chart per organization, and a drill-down (class, category, worst
 * categories, repeat addresses, the draft appeal to the region).
 *
 * Every figure is a button that lists the requests behind it
 * (`complianceRequests`), so a number on the page can always be checked
 * request by request; the list's length equals the figure.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../app";
import { type ApiError, gql } from "../lib/api";
import { trendChart } from "../lib/chart";
import {
  analysisPeriod,
  everyWeek,
  formatDate,
  formatShare,
  judgedCount,
  OUTCOME_FIELD,
  type Outcome,
  type Performance,
  type Period,
  type Tally,
  TARGET,
} from "../lib/compliance";
import { errorText } from "../lib/errors";
import { fill, plural } from "../lib/i18n";
import { formatDateTime } from "../lib/time";

const PERFORMANCE = `query($from: DateTime!, $to: DateTime!, $target: Float!, $lang: String!) {
  organizationPerformance(from: $from, to: $to, target: $target) {
    organization { id name(lang: $lang) subordination }
    total { onTime late openOverdue compliance }
    weeks { weekStart compliance { onTime late openOverdue compliance } }
    byClass { deadlineClass compliance { onTime late openOverdue compliance } }
    byCategory { categoryCode compliance { onTime late openOverdue compliance } }
    worstCategoryCodes
    repeatAddresses { label requests }
    appealDraft
  }
  categories { code name(lang: $lang) }
}`;

/** The request fields a drill-down list shows. */
const JUDGED = `outcome request { id number status deadline resolvedAt
  category { name(lang: $lang) } address { label } organization { name(lang: $lang) } }`;

const COMPLIANCE_REQUESTS = `query($org: ID!, $from: DateTime!, $to: DateTime!, $cls: DeadlineClass, $cat: ID,
  $week: String, $outcome: ComplianceOutcome, $lang: String!) {
  list: complianceRequests(organizationId: $org, from: $from, to: $to, deadlineClass: $cls, categoryCode: $cat,
    weekStart: $week, outcome: $outcome) { ${JUDGED} }
}`;

export const WEEK_CHOICES = [4, 8, 13];

/** A request behind a figure, with how it ended up. */
export interface JudgedRequest {
  outcome: Outcome;
  request: {
    id: string;
    number: string;
    status: string;
    deadline: string;
    resolvedAt: string | null;
    category: { name: string } | null;
    address: { label: string };
    organization: { name: string } | null;
  };
}

/** What a drill-down list shows: its title, the figure it explains, and how to fetch it. */
export interface Drill {
  title: string;
  expected: number;
  query: string;
  variables: Record<string, unknown>;
}

/** A figure that opens the requests behind it; zero has nothing to open. */
export function Figure(p: { n: number; col: string; label: string; onOpen: () => void; text?: string }) {
  if (p.n === 0) {
    return (
      <span class="fig zero" data-col={p.col} data-n={0}>
        {p.text ?? 0}
      </span>
    );
  }
  return (
    <button type="button" class="fig" data-col={p.col} data-n={p.n} aria-label={p.label} title={p.label} onClick={p.onOpen}>
      {p.text ?? p.n}
    </button>
  );
}

/** The list behind a figure, beside the page: Esc or the close button returns to the figure. */
export function DrillPanel(p: { drill: Drill; onClose: () => void }) {
  const { t, lang, token } = useSession();
  const [rows, setRows] = useState<JudgedRequest[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    setRows(null);
    setError(null);
    gql<{ list: JudgedRequest[] }>(p.drill.query, { ...p.drill.variables, lang }, token)
      .then((d) => setRows(d.list))
      .catch((e: ApiError) => setError(errorText(e, t)));
    heading.current?.focus();
  }, [p.drill, lang]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && p.onClose();
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, [p.onClose]);
  return (
    <aside class="drill" role="dialog" aria-modal="false" aria-labelledby="drill-title" data-testid="drill" data-count={rows?.length ?? ""}>
      <header>
        <h2 id="drill-title" tabIndex={-1} ref={heading}>
          {p.drill.title}
        </h2>
        <button type="button" class="secondary" onClick={p.onClose} data-testid="drill-close">
          {t("an.close")}
        </button>
      </header>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {rows == null && !error && <p class="muted">{t("an.loading")}</p>}
      {rows != null && (
        <>
          <p class="muted" data-testid="drill-count">
            {rows.length} {plural(lang, rows.length, t("plural.requests"))}
            {rows.length !== p.drill.expected && (
              <strong class="bad"> · {fill(t("an.mismatch"), { n: p.drill.expected })}</strong>
            )}
          </p>
          <ol class="drill-list">
            {rows.map((r) => (
              <li data-number={r.request.number} data-id={r.request.id} data-outcome={r.outcome}>
                <a href={`#/request/${r.request.id}`}>
                  <strong>{r.request.number}</strong>
                </a>{" "}
                <span class={"outcome " + r.outcome}>{t("an.outcome." + r.outcome)}</span>
                <div class="small">
                  {r.request.category?.name ?? "—"} · {r.request.address.label}
                </div>
                <div class="small muted">
                  {t("an.deadline")} {formatDateTime(r.request.deadline, lang)}
                  {r.request.resolvedAt && ` · ${t("an.resolvedAt")} ${formatDateTime(r.request.resolvedAt, lang)}`}
                  {` · ${t("status." + r.request.status)}`}
                  {r.request.organization && ` · ${r.request.organization.name}`}
                </div>
              </li>
            ))}
          </ol>
        </>
      )}
    </aside>
  );
}

/** Compliance, on time, late, open overdue and the total of one figure, each opening its requests. */
function TallyCells(p: { tally: Tally; what: string; open: (outcome: Outcome | null, title: string, n: number) => void }) {
  const { t, lang } = useSession();
  const cell = (outcome: Outcome) => {
    const n = p.tally[OUTCOME_FIELD[outcome]];
    const title = `${p.what} · ${t("an.outcome." + outcome)}`;
    return (
      <td class="num">
        <Figure n={n} col={OUTCOME_FIELD[outcome]} label={`${n} — ${title}`} onOpen={() => p.open(outcome, title, n)} />
      </td>
    );
  };
  const all = judgedCount(p.tally);
  const below = p.tally.compliance != null && p.tally.compliance < TARGET;
  return (
    <>
      <td class={"num" + (below ? " bad" : "")}>
        <Figure
          n={all}
          col="compliance"
          text={formatShare(p.tally.compliance, lang)}
          label={`${formatShare(p.tally.compliance, lang)} — ${p.what} · ${t("an.allJudged")}`}
          onOpen={() => p.open(null, `${p.what} · ${t("an.allJudged")}`, all)}
        />
      </td>
      {cell("ON_TIME")}
      {cell("LATE")}
      {cell("OPEN_OVERDUE")}
      <td class="num">
        <Figure n={all} col="total" label={`${all} — ${p.what} · ${t("an.allJudged")}`} onOpen={() => p.open(null, `${p.what} · ${t("an.allJudged")}`, all)} />
      </td>
    </>
  );
}

/** The header of a figures table: what the row is, then the five figures. */
function TallyHead(p: { first: string }) {
  const { t } = useSession();
  return (
    <thead>
      <tr>
        <th scope="col">{p.first}</th>
        {["compliance", "onTime", "late", "open", "total"].map((c) => (
          <th scope="col" class="num">
            <span class="long">{t("an.col." + c)}</span>
            <abbr class="short" title={t("an.col." + c)}>
              {t("an.short." + c)}
            </abbr>
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** True on a phone-sized screen, following the window as it turns. */
function useNarrow(): boolean {
  const query = "(max-width: 700px)";
  const [narrow, setNarrow] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const m = matchMedia(query);
    const on = () => setNarrow(m.matches);
    m.addEventListener("change", on);
    return () => m.removeEventListener("change", on);
  }, []);
  return narrow;
}

/** The weekly trend of one organization: a line against the dashed target, described for screen readers. */
function Trend(p: { perf: Performance; weekStarts: string[] }) {
  const { t, lang } = useSession();
  const weeks = everyWeek(p.perf, p.weekStarts);
  const narrow = useNarrow();
  const chart = trendChart(
    weeks.map((w) => ({ label: formatDate(w.weekStart, lang).slice(0, 5), value: w.compliance.compliance })),
    TARGET,
    narrow ? 360 : 640,
    narrow ? 130 : 150,
  );
  const said = weeks
    .map((w) => `${formatDate(w.weekStart, lang).slice(0, 5)}: ${w.compliance.compliance == null ? t("an.nothingDue") : formatShare(w.compliance.compliance, lang)}`)
    .join("; ");
  const below = weeks.filter((w) => w.compliance.compliance != null && w.compliance.compliance < TARGET).length;
  const label = fill(t("an.chartLabel"), {
    org: p.perf.organization.name,
    weeks: said,
    target: formatShare(TARGET, lang),
    below,
    of: weeks.filter((w) => w.compliance.compliance != null).length,
  });
  return (
    <svg class="trend" viewBox={`0 0 ${chart.width} ${chart.height}`} role="img" aria-label={label} data-testid="trend">
      {chart.yTicks.map((y) => (
        <g>
          <line x1={chart.plot.left} x2={chart.plot.right} y1={y.y} y2={y.y} class="grid" />
          <text x={chart.plot.left - 6} y={y.y + 4} text-anchor="end" class="tick">
            {y.label}
          </text>
        </g>
      ))}
      <line x1={chart.plot.left} x2={chart.plot.right} y1={chart.targetY} y2={chart.targetY} class="target-line" />
      <text x={chart.plot.right} y={chart.targetY - 4} text-anchor="end" class="tick target-label">
        {t("an.target")} {formatShare(TARGET, lang)}
      </text>
      {chart.paths.map((d) => (
        <path d={d} class="trend-line" />
      ))}
      {chart.dots.map((d) => (
        <circle cx={d.x} cy={d.y} r={3.5} class={d.below ? "dot below" : "dot"}>
          <title>
            {d.label}: {formatShare(d.value, lang)}
          </title>
        </circle>
      ))}
      {chart.xTicks.map((x) => (
        <text x={x.x} y={chart.height - 6} text-anchor="middle" class="tick">
          {x.label}
        </text>
      ))}
    </svg>
  );
}

/** Compliance per organization by week, city and regional side by side, with the drill-down. */
export function Analysis() {
  const { t, lang, token } = useSession();
  const [weeks, setWeeks] = useState(8);
  const [period, setPeriod] = useState<Period>(() => analysisPeriod(Date.now(), 8));
  const [perf, setPerf] = useState<Performance[] | null>(null);
  const [categories, setCategories] = useState<Record<string, string>>({});
  const [selected, setSelected] = useState<string | null>(null);
  const [drill, setDrill] = useState<Drill | null>(null);
  const [error, setError] = useState<string | null>(null);
  const detail = useRef<HTMLElement>(null);

  useEffect(() => {
    setError(null);
    gql<{ organizationPerformance: Performance[]; categories: Array<{ code: string; name: string }> }>(
      PERFORMANCE,
      { from: period.from, to: period.to, target: TARGET, lang },
      token,
    )
      .then((d) => {
        setPerf(d.organizationPerformance);
        setCategories(Object.fromEntries(d.categories.map((c) => [c.code, c.name])));
      })
      .catch((e: ApiError) => setError(errorText(e, t)));
  }, [period, lang, token]);

  const choose = (n: number) => {
    setWeeks(n);
    setDrill(null);
    setPeriod(analysisPeriod(Date.now(), n));
  };

  /** Opens the requests behind a figure of `org`, narrowed as the figure is. */
  const opener =
    (org: Performance, narrow: { cls?: string; cat?: string; week?: string }) =>
    (outcome: Outcome | null, title: string, n: number) =>
      setDrill({
        title: `${org.organization.name} · ${title}`,
        expected: n,
        query: COMPLIANCE_REQUESTS,
        variables: {
          org: org.organization.id,
          from: period.from,
          to: period.to,
          cls: narrow.cls ?? null,
          cat: narrow.cat ?? null,
          week: narrow.week ?? null,
          outcome,
        },
      });

  const select = (id: string) => {
    setSelected(id);
    setTimeout(() => detail.current?.scrollIntoView({ behavior: "smooth", block: "start" }), 0);
  };

  const column = (sub: "CITY" | "REGIONAL") => {
    const rows = (perf ?? []).filter((p) => p.organization.subordination === sub);
    return (
      <section class="card an-column" data-testid={`column-${sub}`} aria-labelledby={`col-${sub}`}>
        <h2 id={`col-${sub}`}>{t(sub === "CITY" ? "an.city" : "an.regional")}</h2>
        {rows.length === 0 && <p class="muted">{t("an.noOrganizations")}</p>}
        {rows.map((p) => (
          <OrgCard perf={p} weekStarts={period.weekStarts} open={opener} selected={selected === p.organization.id} onSelect={() => select(p.organization.id)} />
        ))}
      </section>
    );
  };

  const chosen = perf?.find((p) => p.organization.id === selected) ?? null;
  return (
    <div class={"analysis" + (drill ? " with-drill" : "")} data-from={period.from} data-to={period.to}>
      <section class="card">
        <h1>{t("an.title")}</h1>
        <div class="formula" data-testid="formula">
          <p>
            <strong>{t("an.formula")}</strong>
          </p>
          <p class="small">{t("an.formulaScope")}</p>
        </div>
        <div class="an-controls">
          <fieldset class="choices" aria-label={t("an.period")}>
            <legend class="label">{t("an.period")}</legend>
            {WEEK_CHOICES.map((n) => (
              <label>
                <input type="radio" name="weeks" value={n} checked={weeks === n} onChange={() => choose(n)} data-testid={`weeks-${n}`} />{" "}
                {fill(t("an.weeks"), { n, plural: plural(lang, n, t("an.plural.weeks")) })}
              </label>
            ))}
          </fieldset>
          <p class="muted" data-testid="period">
            {fill(t("an.periodIs"), {
              from: formatDate(period.weekStarts[0], lang),
              to: formatDateTime(period.to, lang),
            })}{" "}
            <button type="button" class="link" onClick={() => choose(weeks)}>
              {t("an.refresh")}
            </button>
          </p>
        </div>
        <p class="small muted">
          {t("an.howToRead")} <a href="#/report">{t("nav.report")}</a> · <a href="#/supervisor">{t("nav.supervisor")}</a>
        </p>
      </section>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {perf == null && !error && <p class="muted">{t("an.loading")}</p>}
      {perf != null && (
        <div class="columns">
          {column("CITY")}
          {column("REGIONAL")}
        </div>
      )}
      {chosen && (
        <section class="card an-detail" ref={detail} data-testid="detail" data-org={chosen.organization.id} aria-labelledby="detail-title">
          <OrgDetail perf={chosen} categories={categories} weekStarts={period.weekStarts} open={opener} />
        </section>
      )}
      {drill && <DrillPanel drill={drill} onClose={() => setDrill(null)} />}
    </div>
  );
}

type Opener = (
  org: Performance,
  narrow: { cls?: string; cat?: string; week?: string },
) => (outcome: Outcome | null, title: string, n: number) => void;

/** One organization in its column: total figures, the trend, the weeks in numbers. */
function OrgCard(p: { perf: Performance; weekStarts: string[]; open: Opener; selected: boolean; onSelect: () => void }) {
  const { t, lang } = useSession();
  const o = p.perf.organization;
  const total = p.perf.total;
  const below = total.compliance != null && total.compliance < TARGET;
  return (
    <article class={"org-card" + (p.selected ? " selected" : "")} data-org={o.id}>
      <h3>
        <button type="button" class="link org-name" onClick={p.onSelect} aria-expanded={p.selected} data-testid="select-org">
          {o.name}
        </button>{" "}
        <span class={"share" + (below ? " bad" : total.compliance == null ? " muted" : " ok")}>{formatShare(total.compliance, lang)}</span>
      </h3>
      <div class="scroll-x">
        <table class="figures" data-testid="total">
          <TallyHead first={t("an.period")} />
          <tbody>
            <tr>
              <th scope="row">{t("an.wholePeriod")}</th>
              <TallyCells tally={total} what={t("an.wholePeriod")} open={p.open(p.perf, {})} />
            </tr>
          </tbody>
        </table>
      </div>
      <Trend perf={p.perf} weekStarts={p.weekStarts} />
      <details open={p.selected}>
        <summary>{t("an.byWeekNumbers")}</summary>
        <div class="scroll-x">
          <table class="figures" data-testid="weeks">
            <TallyHead first={t("an.weekOf")} />
            <tbody>
              {everyWeek(p.perf, p.weekStarts).map((w) => {
                const what = fill(t("an.weekFrom"), { date: formatDate(w.weekStart, lang) });
                return (
                  <tr data-week={w.weekStart}>
                    <th scope="row">{formatDate(w.weekStart, lang)}</th>
                    <TallyCells tally={w.compliance} what={what} open={p.open(p.perf, { week: w.weekStart })} />
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </details>
    </article>
  );
}

/** The chosen organization by class and category, its worst categories, repeat addresses and draft appeal. */
function OrgDetail(p: { perf: Performance; categories: Record<string, string>; weekStarts: string[]; open: Opener }) {
  const { t, lang } = useSession();
  const o = p.perf.organization;
  const name = (code: string) => p.categories[code] ?? code;
  const byCategory = [...p.perf.byCategory].sort((a, b) => judgedCount(b.compliance) - judgedCount(a.compliance) || name(a.categoryCode).localeCompare(name(b.categoryCode)));
  return (
    <>
      <h2 id="detail-title">
        {o.name} <span class="muted small">{t(o.subordination === "REGIONAL" ? "an.regionalOne" : "an.cityOne")}</span>
      </h2>
      <div class="columns">
        <div>
          <h3>{t("an.byClass")}</h3>
          <div class="scroll-x">
            <table class="figures" data-testid="by-class">
              <TallyHead first={t("an.class")} />
              <tbody>
                {p.perf.byClass.map((c) => (
                  <tr data-class={c.deadlineClass}>
                    <th scope="row">{t("class." + c.deadlineClass)}</th>
                    <TallyCells tally={c.compliance} what={t("class." + c.deadlineClass)} open={p.open(p.perf, { cls: c.deadlineClass })} />
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h3>{t("an.worst")}</h3>
          {p.perf.worstCategoryCodes.length === 0 ? (
            <p class="muted">{t("an.noWorst")}</p>
          ) : (
            <ol data-testid="worst">
              {p.perf.worstCategoryCodes.map((code) => {
                const c = p.perf.byCategory.find((x) => x.categoryCode === code)?.compliance;
                return (
                  <li data-category={code}>
                    {name(code)}{" "}
                    {c && (
                      <Figure
                        n={judgedCount(c)}
                        col="compliance"
                        text={formatShare(c.compliance, lang)}
                        label={`${formatShare(c.compliance, lang)} — ${name(code)} · ${t("an.allJudged")}`}
                        onOpen={() => p.open(p.perf, { cat: code })(null, `${name(code)} · ${t("an.allJudged")}`, judgedCount(c))}
                      />
                    )}
                  </li>
                );
              })}
            </ol>
          )}
          <h3>{t("an.repeat")}</h3>
          {p.perf.repeatAddresses.length === 0 ? (
            <p class="muted">{t("an.noRepeat")}</p>
          ) : (
            <ul class="plain" data-testid="repeat">
              {p.perf.repeatAddresses.map((a) => (
                <li>
                  <a href={`#/search?q=${encodeURIComponent(a.label)}`}>{a.label}</a> —{" "}
                  <a href={`#/search?q=${encodeURIComponent(a.label)}`} aria-label={`${a.requests} ${plural(lang, a.requests, t("plural.requests"))}: ${a.label}`}>
                    {a.requests} {plural(lang, a.requests, t("plural.requests"))}
                  </a>
                </li>
              ))}
            </ul>
          )}
          <p class="small muted">{t("an.repeatHint")}</p>
        </div>
        <div>
          <h3>{t("an.byCategory")}</h3>
          <div class="scroll-x">
            <table class="figures" data-testid="by-category">
              <TallyHead first={t("an.category")} />
              <tbody>
                {byCategory.map((c) => (
                  <tr data-category={c.categoryCode}>
                    <th scope="row">{name(c.categoryCode)}</th>
                    <TallyCells tally={c.compliance} what={name(c.categoryCode)} open={p.open(p.perf, { cat: c.categoryCode })} />
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      </div>
      {p.perf.appealDraft && (
        <>
          <h3>{t("an.appeal")}</h3>
          <p class="small muted">{t("an.appealHint")}</p>
          <pre class="appeal" data-testid="appeal">
            {p.perf.appealDraft}
          </pre>
        </>
      )}
    </>
  );
}

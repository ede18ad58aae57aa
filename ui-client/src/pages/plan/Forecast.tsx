/**
 * The monthly forecast: a small bar chart per organization, each month's
 * bar split by deadline class, described in words for screen readers; and
 * the same numbers as an organization × month table.
 */
import { useSession } from "../../app";
import { fill, plural } from "../../lib/i18n";
import { Scroll } from "../admin/shared";
import { CLASSES, formatMonth, formatNumber, type MonthForecast, type OrgPlan, type ResourcePlan } from "./common";

const W = 320;
const H = 136;
const PLOT = { left: 36, right: W - 6, top: 10, bottom: H - 22 };

/** A round number at or above `x` for the chart's top: 1, 2 or 5 × a power of ten. */
export function niceCeil(x: number): number {
  if (x <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** The forecast of every organization by month. */
export function Forecast(p: { plan: ResourcePlan }) {
  const { t, lang } = useSession();
  const months = p.plan.months;
  const byOrg = new Map<string, Map<string, MonthForecast>>();
  for (const f of p.plan.forecast) {
    if (!byOrg.has(f.organizationId)) byOrg.set(f.organizationId, new Map());
    byOrg.get(f.organizationId)!.set(f.month, f);
  }
  const rows = (id: string) => byOrg.get(id) ?? new Map<string, MonthForecast>();
  return (
    <section class="card" aria-labelledby="pl-fc-h" data-testid="forecast">
      <h2 id="pl-fc-h">{t("pl.fc.title")}</h2>
      <p class="small muted">{t("pl.fc.hint")}</p>
      <ul class="pl-legend" aria-label={t("pl.fc.legend")}>
        {CLASSES.map((c) => (
          <li>
            <span class={"pl-swatch c-" + c} aria-hidden="true" /> {t("class." + c)}
          </li>
        ))}
      </ul>
      <div class="pl-charts">
        {p.plan.organizations.map((o) => (
          <figure class="pl-chart" data-org={o.organizationId}>
            <figcaption>
              <strong>{o.organization?.name ?? o.organizationId}</strong>{" "}
              <span class="muted small">
                {formatNumber(Math.round(o.expectedRequests), lang, 0)} {plural(lang, Math.round(o.expectedRequests), t("plural.requests"))}
              </span>
            </figcaption>
            <Bars org={o} months={months} rows={rows(o.organizationId)} />
          </figure>
        ))}
      </div>
      <details>
        <summary>{t("pl.fc.numbers")}</summary>
        <Scroll label={fill(t("pl.tableOf"), { what: t("pl.fc.numbers") })}>
          <table class="figures pl-fc-table" data-testid="forecast-table">
            <thead>
              <tr>
                <th scope="col">{t("pl.col.org")}</th>
                {months.map((m) => (
                  <th scope="col" class="num">
                    {formatMonth(m, lang)}
                  </th>
                ))}
                <th scope="col" class="num">
                  {t("pl.fc.total")}
                </th>
              </tr>
            </thead>
            <tbody>
              {p.plan.organizations.map((o) => {
                const r = rows(o.organizationId);
                return (
                  <tr data-org={o.organizationId}>
                    <th scope="row">{o.organization?.name ?? o.organizationId}</th>
                    {months.map((m) => (
                      <td class="num" data-month={m}>
                        {formatNumber(r.get(m)?.expectedRequests ?? 0, lang, 0)}
                      </td>
                    ))}
                    <td class="num">{formatNumber(o.expectedRequests, lang, 0)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </Scroll>
      </details>
    </section>
  );
}

/** One organization's months as stacked bars, with a description of the series. */
function Bars(p: { org: OrgPlan; months: string[]; rows: Map<string, MonthForecast> }) {
  const { t, lang } = useSession();
  const n = Math.max(p.months.length, 1);
  const totals = p.months.map((m) => p.rows.get(m)?.expectedRequests ?? 0);
  const max = niceCeil(Math.max(...totals, 0));
  const slot = (PLOT.right - PLOT.left) / n;
  const barW = Math.max(slot * 0.7, 2);
  const y = (v: number) => PLOT.bottom - (v / max) * (PLOT.bottom - PLOT.top);
  const peak = totals.indexOf(Math.max(...totals));
  const name = p.org.organization?.name ?? p.org.organizationId;
  const label = fill(t("pl.fc.chartLabel"), {
    org: name,
    total: formatNumber(p.org.expectedRequests, lang, 0),
    peak: totals.length && totals[peak] > 0 ? formatMonth(p.months[peak], lang) : "—",
    months: p.months.map((m, i) => `${formatMonth(m, lang)} — ${formatNumber(totals[i], lang, 0)}`).join("; "),
  });
  const every = n > 8 ? 2 : 1;
  return (
    <svg class="pl-bars" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} data-testid="forecast-chart">
      {[0, max / 2, max].map((v) => (
        <g>
          <line x1={PLOT.left} x2={PLOT.right} y1={y(v)} y2={y(v)} class="grid" />
          <text x={PLOT.left - 4} y={y(v) + 4} text-anchor="end" class="tick">
            {formatNumber(v, lang, 0)}
          </text>
        </g>
      ))}
      {p.months.map((m, i) => {
        const f = p.rows.get(m);
        const x = PLOT.left + i * slot + (slot - barW) / 2;
        let base = 0;
        const parts = CLASSES.map((c) => {
          const v = f?.byClass.find((b) => b.deadlineClass === c)?.expectedRequests ?? 0;
          const r = { c, v, y0: base, y1: base + v };
          base += v;
          return r;
        }).filter((r) => r.v > 0);
        const title = `${formatMonth(m, lang)}: ${formatNumber(totals[i], lang, 0)} — ${parts.map((r) => `${t("class." + r.c)} ${formatNumber(r.v, lang, 0)}`).join(", ")}`;
        return (
          <g>
            <title>{title}</title>
            {parts.map((r) => (
              <rect x={x} width={barW} y={y(r.y1)} height={Math.max(y(r.y0) - y(r.y1), 0)} class={"c-" + r.c} />
            ))}
            {/* A transparent column the pointer can rest on even over a short bar. */}
            <rect x={PLOT.left + i * slot} width={slot} y={PLOT.top} height={PLOT.bottom - PLOT.top} class="pl-hit" />
            {i % every === 0 && (
              <text x={x + barW / 2} y={H - 6} text-anchor="middle" class="tick">
                {formatMonth(m, lang, false).replace(".", "")}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

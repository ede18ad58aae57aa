/**
 * The daily report in the page: per organization and deadline class, the
 * day's flows and the requests due that day as they stood at the cut-off
 * (08:00 city time the next morning), with the formula the report was made
 * by said in words. Each due / on time / late / open figure lists its
 * requests (`dailyReportRequests`); the files are a click away.
 */
import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { type ApiError, download, gql } from "../lib/api";
import { cityYesterday, durationHours, formatShare, type Outcome, TARGET } from "../lib/compliance";
import { errorText } from "../lib/errors";
import { fill, plural } from "../lib/i18n";
import { formatDateTime, formatLeft, parseIsoDuration } from "../lib/time";
import { type Drill, DrillPanel, Figure } from "./Analysis";

interface Row {
  organization: { id: string; name: string } | null;
  deadlineClass: string;
  received: number;
  due: number;
  dueOnTime: number;
  dueLate: number;
  dueOpen: number;
  overdueNow: number;
  compliance: number | null;
  resolved: number;
  resolvedOnTime: number;
  reopened: number;
  medianTimeToResolve: string | null;
  p90TimeToResolve: string | null;
}

interface OpenLine {
  number: string;
  organizationId: string | null;
  deadlineClass: string;
  status: string;
  deadline: string;
  timeLeft: string;
}

interface Report {
  date: string;
  generatedAt: string;
  formula: number;
  cutoff: string | null;
  rows: Row[];
  openRequests: OpenLine[];
}

const REPORT = `query($date: String!, $lang: String!) {
  dailyReport(date: $date) {
    date generatedAt formula cutoff
    rows { organization { id name(lang: $lang) } deadlineClass received due dueOnTime dueLate dueOpen overdueNow
      compliance resolved resolvedOnTime reopened medianTimeToResolve p90TimeToResolve }
    openRequests { number organizationId deadlineClass status deadline timeLeft }
  }
  organizations { id name(lang: $lang) }
}`;

const REPORT_REQUESTS = `query($date: String!, $org: ID, $cls: DeadlineClass, $outcome: ComplianceOutcome, $lang: String!) {
  list: dailyReportRequests(date: $date, organizationId: $org, deadlineClass: $cls, outcome: $outcome) {
    outcome request { id number status deadline resolvedAt
      category { name(lang: $lang) } address { label } organization { name(lang: $lang) } }
  }
}`;

const CLASSES = ["EMERGENCY", "SHORT", "MEDIUM", "LONG"];

/** Rows summed: the day's counts add up; medians do not, so a sum has none. */
function sum(rows: Row[], organization: Row["organization"]): Row {
  const add = (k: keyof Row) => rows.reduce((s, r) => s + (r[k] as number), 0);
  const due = add("due");
  return {
    organization,
    deadlineClass: "ALL",
    received: add("received"),
    due,
    dueOnTime: add("dueOnTime"),
    dueLate: add("dueLate"),
    dueOpen: add("dueOpen"),
    overdueNow: add("overdueNow"),
    compliance: due > 0 ? add("dueOnTime") / due : null,
    resolved: add("resolved"),
    resolvedOnTime: add("resolvedOnTime"),
    reopened: add("reopened"),
    medianTimeToResolve: null,
    p90TimeToResolve: null,
  };
}

/** The daily report of a chosen city date, yesterday by default. */
export function DailyReport() {
  const { t, lang, token } = useSession();
  const [date, setDate] = useState(() => cityYesterday(Date.now()));
  const [report, setReport] = useState<Report | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});
  const [drill, setDrill] = useState<Drill | null>(null);
  const [error, setError] = useState<string | null>(null);
  const latest = cityYesterday(Date.now());

  useEffect(() => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return;
    setError(null);
    setReport(null);
    setDrill(null);
    gql<{ dailyReport: Report; organizations: Array<{ id: string; name: string }> }>(REPORT, { date, lang }, token)
      .then((d) => {
        setReport(d.dailyReport);
        setNames(Object.fromEntries(d.organizations.map((o) => [o.id, o.name])));
      })
      .catch((e: ApiError) => setError(errorText(e, t)));
  }, [date, lang, token]);

  const get = (suffix: string, ext: string) => {
    const q = lang === "en" ? "?lang=en" : "";
    download(`/reports/daily/${date}${suffix}.${ext}${q}`, token!, `kontakt-${date}${suffix}.${ext}`).catch((e: ApiError) =>
      setError(errorText(e, t)),
    );
  };

  const formula2 = report != null && report.formula >= 2;
  const orgName = (o: Row["organization"]) => (o ? o.name : t("rp.noOrganization"));

  /** The figures' cells of a row; formula 2 figures open their requests. */
  const cells = (r: Row) => {
    const orgId = r.deadlineClass === "CITY" ? null : (r.organization?.id ?? "");
    const cls = CLASSES.includes(r.deadlineClass) ? r.deadlineClass : null;
    const what = `${r.deadlineClass === "CITY" ? t("rp.city") : orgName(r.organization)}${cls ? " · " + t("class." + cls) : ""}`;
    const open = (outcome: Outcome | null, label: string, n: number) =>
      setDrill({
        title: `${fill(t("rp.drillTitle"), { date: formatDay(date, lang) })} · ${what} · ${label}`,
        expected: n,
        query: REPORT_REQUESTS,
        variables: { date, org: orgId, cls, outcome },
      });
    const fig = (n: number, col: string, outcome: Outcome | null, label: string) =>
      formula2 ? (
        <Figure n={n} col={col} label={`${n} — ${what} · ${label}`} onOpen={() => open(outcome, label, n)} />
      ) : (
        <span data-col={col}>{n}</span>
      );
    const below = r.compliance != null && r.compliance < TARGET;
    return (
      <>
        <td class="num" data-label={t("rp.received")}>{r.received}</td>
        <td class="num" data-label={t("rp.due")}>{fig(r.due, "due", null, t("rp.due"))}</td>
        <td class="num" data-label={t("rp.dueOnTime")}>{fig(r.dueOnTime, "dueOnTime", "ON_TIME", t("rp.dueOnTime"))}</td>
        <td class="num" data-label={t("rp.dueLate")}>{fig(r.dueLate, "dueLate", "LATE", t("rp.dueLate"))}</td>
        <td class="num" data-label={t("rp.dueOpen")}>{fig(r.dueOpen, "dueOpen", "OPEN_OVERDUE", t("rp.dueOpen"))}</td>
        <td class={"num" + (below ? " bad" : "")} data-label={t("rp.compliance")} data-col="compliance">
          {formatShare(r.compliance, lang)}
        </td>
        <td class="num" data-label={t("rp.overdueNow")} data-col="overdueNow">{r.overdueNow}</td>
        <td class="num" data-label={t("rp.resolved")}>{r.resolved}</td>
        <td class="num" data-label={t("rp.resolvedOnTime")}>{r.resolvedOnTime}</td>
        <td class="num" data-label={t("rp.reopened")}>{r.reopened}</td>
        <td class="num" data-label={t("rp.median")}>{durationHours(r.medianTimeToResolve, lang)}</td>
        <td class="num" data-label={t("rp.p90")}>{durationHours(r.p90TimeToResolve, lang)}</td>
      </>
    );
  };

  // Rows grouped by organization: its total first, then its classes; those no organization held last.
  const groups: Array<{ org: Row["organization"]; rows: Row[] }> = [];
  for (const r of report?.rows ?? []) {
    const key = r.organization?.id ?? "";
    let g = groups.find((x) => (x.org?.id ?? "") === key);
    if (!g) groups.push((g = { org: r.organization, rows: [] }));
    g.rows.push(r);
  }
  groups.sort((a, b) => (a.org == null ? 1 : b.org == null ? -1 : a.org.name.localeCompare(b.org.name)));
  const provisional = report?.cutoff != null && Date.parse(report.cutoff) > Date.parse(report.generatedAt);

  return (
    <div class={"daily-report" + (drill ? " with-drill" : "")}>
      <section class="card">
        <h1>{t("rp.title")}</h1>
        <div class="rp-controls">
          <label>
            {t("rp.date")}{" "}
            <input
              type="date"
              value={date}
              max={latest}
              data-testid="report-date"
              onChange={(e) => setDate((e.target as HTMLInputElement).value)}
            />
          </label>
          <span class="downloads" role="group" aria-label={t("rp.downloads")}>
            <button type="button" class="secondary" onClick={() => get("", "csv")} data-testid="csv">
              {t("rp.csv")}
            </button>
            <button type="button" class="secondary" onClick={() => get("-open", "csv")} data-testid="csv-open">
              {t("rp.csvOpen")}
            </button>
            <button type="button" class="secondary" onClick={() => get("", "xlsx")} data-testid="xlsx">
              {t("rp.xlsx")}
            </button>
          </span>
        </div>
        {report && (
          <div class="formula" data-testid="formula" data-formula={report.formula} data-generated={report.generatedAt} data-cutoff={report.cutoff ?? ""}>
            {formula2 ? (
              <>
                <p>
                  <strong>{t("rp.formula2")}</strong>
                </p>
                <p class="small">
                  {fill(t("rp.formula2Scope"), { cutoff: report.cutoff ? formatDateTime(report.cutoff, lang) : "—" })}
                </p>
              </>
            ) : (
              <p class="warn-box">{t("rp.formula1")}</p>
            )}
            <p class="small muted">
              {fill(t("rp.generated"), { at: formatDateTime(report.generatedAt, lang) })}
              {provisional && ` ${t("rp.provisional")}`}
            </p>
          </div>
        )}
      </section>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!report && !error && <p class="muted">{t("an.loading")}</p>}
      {report && (
        <section class="card">
          <h2>{fill(t("rp.figuresOf"), { date: formatDay(report.date, lang) })}</h2>
          {report.rows.length === 0 ? (
            <p class="muted">{t("rp.empty")}</p>
          ) : (
            <div class="scroll-x">
              <table class="report-table" data-testid="report" data-date={report.date}>
                <thead>
                  <tr>
                    <th scope="col">{t("rp.organization")}</th>
                    <th scope="col" class="num">{t("rp.received")}</th>
                    <th scope="col" class="num">{t("rp.due")}</th>
                    <th scope="col" class="num">{t("rp.dueOnTime")}</th>
                    <th scope="col" class="num">{t("rp.dueLate")}</th>
                    <th scope="col" class="num">{t("rp.dueOpen")}</th>
                    <th scope="col" class="num">{t("rp.compliance")}</th>
                    <th scope="col" class="num">{t("rp.overdueNow")}</th>
                    <th scope="col" class="num">{t("rp.resolved")}</th>
                    <th scope="col" class="num">{t("rp.resolvedOnTime")}</th>
                    <th scope="col" class="num">{t("rp.reopened")}</th>
                    <th scope="col" class="num">{t("rp.median")}</th>
                    <th scope="col" class="num">{t("rp.p90")}</th>
                  </tr>
                </thead>
                {groups.map((g) => (
                  <tbody data-org={g.org?.id ?? ""}>
                    <tr class="org-total" data-org={g.org?.id ?? ""} data-class="ALL">
                      <th scope="row">{orgName(g.org)}</th>
                      {cells(sum(g.rows, g.org))}
                    </tr>
                    {g.rows.map((r) => (
                      <tr data-org={g.org?.id ?? ""} data-class={r.deadlineClass}>
                        <th scope="row" class="class-row">
                          {t("class." + r.deadlineClass)}
                        </th>
                        {cells(r)}
                      </tr>
                    ))}
                  </tbody>
                ))}
                <tfoot>
                  <tr class="city-total" data-org="*" data-class="CITY">
                    <th scope="row">{t("rp.city")}</th>
                    {cells({ ...sum(report.rows, null), deadlineClass: "CITY" })}
                  </tr>
                </tfoot>
              </table>
            </div>
          )}
          <p class="small muted">{t("rp.overdueNowHint")}</p>
          <details>
            <summary>
              {fill(t("rp.openDuring"), {
                n: report.openRequests.length,
                plural: plural(lang, report.openRequests.length, t("plural.requests")),
              })}
            </summary>
            <div class="scroll-x">
              <table class="open-lines" data-testid="open-lines">
                <thead>
                  <tr>
                    <th scope="col">{t("op.number")}</th>
                    <th scope="col">{t("rp.organization")}</th>
                    <th scope="col">{t("an.class")}</th>
                    <th scope="col">{t("rp.statusAtEnd")}</th>
                    <th scope="col">{t("op.deadline")}</th>
                    <th scope="col" class="num">{t("rp.leftAtEnd")}</th>
                  </tr>
                </thead>
                <tbody>
                  {report.openRequests.map((l) => {
                    const left = parseIsoDuration(l.timeLeft);
                    return (
                      <tr>
                        <td>
                          <a href={`#/search?q=${encodeURIComponent(l.number)}`}>{l.number}</a>
                        </td>
                        <td>{l.organizationId ? (names[l.organizationId] ?? l.organizationId) : t("rp.noOrganization")}</td>
                        <td>{t("class." + l.deadlineClass)}</td>
                        <td>{t("status." + l.status)}</td>
                        <td>{formatDateTime(l.deadline, lang)}</td>
                        <td class={"num" + (left != null && left < 0 ? " bad" : "")}>{left == null ? "—" : formatLeft(left * 1000, lang)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          </details>
        </section>
      )}
      {drill && <DrillPanel drill={drill} onClose={() => setDrill(null)} />}
    </div>
  );
}

/** A city date in words: `29.11.2026` or `29 Nov 2026`. */
function formatDay(date: string, lang: "ru" | "en"): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Intl.DateTimeFormat(lang === "ru" ? "ru-RU" : "en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(y, m - 1, d)),
  );
}

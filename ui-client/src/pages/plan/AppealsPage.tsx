/**
 * Appeals to regional organizations: the regulation asks the city to analyse
 * each organization's deadlines and, for those the region runs, to appeal to
 * the region. The page lists the regional organizations over a chosen period
 * with their figures (the same `organizationPerformance` the analysis shows),
 * drafts an appeal for one below the target, and lists the appeals made,
 * newest first; `#/appeals/<id>` opens one beside the list.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../../app";
import { type ApiError, gql } from "../../lib/api";
import { addDays, analysisPeriod, cityDateOf, cityInstant, formatShare, judgedCount, type Tally } from "../../lib/compliance";
import { errorText } from "../../lib/errors";
import { fill, plural } from "../../lib/i18n";
import { formatDateTime } from "../../lib/time";
import { Said, Scroll } from "../admin/shared";
import { AppealPanel } from "./AppealPanel";
import { periodText, StatusText } from "./common";

const PERFORMANCE = `query($from: DateTime!, $to: DateTime!, $target: Float!, $lang: String!) {
  organizationPerformance(from: $from, to: $to, subordination: REGIONAL, target: $target) {
    organization { id name(lang: $lang) }
    total { onTime late openOverdue compliance }
  }
}`;

const LIST = `query($lang: String!) {
  appeals(first: 50) {
    id organization { id name(lang: $lang) } periodFrom periodTo status subject createdAt sentAt outgoingNumber withdrawnAt
    figures { compliance }
  }
}`;

const DRAFT = `mutation($org: ID!, $from: DateTime!, $to: DateTime!, $target: Float!) {
  draftAppeal(organizationId: $org, from: $from, to: $to, target: $target) { id }
}`;

export const TARGETS = [0.8, 0.9, 0.95];
const WEEKS = [4, 8, 13];

/** One appeal in the list. */
export interface Listed {
  id: string;
  organization: { id: string; name: string } | null;
  periodFrom: string;
  periodTo: string;
  status: "DRAFT" | "SENT" | "WITHDRAWN";
  subject: string;
  createdAt: string;
  sentAt: string | null;
  outgoingNumber: string | null;
  withdrawnAt: string | null;
  figures: { compliance: number };
}

interface Perf {
  organization: { id: string; name: string };
  total: Tally;
}

/** A period's bounds as the API takes them, from two city dates (the second included, up to now). */
export function periodOf(fromDate: string, toDate: string, now: number): { from: string; to: string } {
  const end = Math.min(cityInstant(addDays(toDate, 1)), now);
  return { from: new Date(cityInstant(fromDate)).toISOString(), to: new Date(end).toISOString() };
}

/** The appeals page, with appeal `id` open when given. */
export function AppealsPage(p: { id: string }) {
  const { t, lang, token } = useSession();
  const [list, setList] = useState<Listed[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const panel = useRef<HTMLElement>(null);
  const loadList = () =>
    gql<{ appeals: Listed[] }>(LIST, { lang }, token)
      .then((d) => {
        setList(d.appeals);
        setError(null);
      })
      .catch((e: ApiError) => setError(errorText(e, t)));
  useEffect(() => {
    loadList();
  }, [lang, token]);
  useEffect(() => {
    if (p.id) setTimeout(() => panel.current?.scrollIntoView({ behavior: "smooth", block: "start" }), 0);
  }, [p.id]);

  return (
    <div class={"appeals" + (p.id ? " with-appeal" : "")}>
      <section class="card">
        <h1>{t("ap.title")}</h1>
        <p class="pl-lead">{t("ap.lead")}</p>
      </section>
      <DraftSection onDrafted={(id) => {
        loadList();
        location.hash = `#/appeals/${id}`;
      }} />
      <div class="ap-layout">
        <section class="card" aria-labelledby="ap-list-h" data-testid="appeal-list-section">
          <h2 id="ap-list-h">{t("ap.list")}</h2>
          <Said error={error} testid="list" />
          {list === null ? (
            !error && <p class="muted">…</p>
          ) : list.length === 0 ? (
            <p class="muted" data-testid="no-appeals">
              {t("ap.none")}
            </p>
          ) : (
            <Scroll label={fill(t("pl.tableOf"), { what: t("ap.list") })}>
              <table class="adm-table ap-list" data-testid="appeal-list">
                <thead>
                  <tr>
                    <th scope="col">{t("ap.col.drafted")}</th>
                    <th scope="col">{t("ap.col.org")}</th>
                    <th scope="col">{t("ap.col.period")}</th>
                  </tr>
                </thead>
                {list.map((a) => (
                  <tbody data-appeal={a.id} data-status={a.status} class={a.id === p.id ? "selected" : ""} key={a.id}>
                    <tr>
                      <td data-label={t("ap.col.drafted")}>
                        <a href={`#/appeals/${a.id}`} aria-current={a.id === p.id ? "true" : undefined} data-testid="open-appeal" class="adm-nowrap">
                          {formatDateTime(a.createdAt, lang)}
                        </a>
                        <div>
                          <StatusText a={a} />
                        </div>
                      </td>
                      <td data-label={t("ap.col.org")}>
                        {a.organization?.name ?? "—"}
                        <div class="small muted ap-subject">{a.subject}</div>
                      </td>
                      <td data-label={t("ap.col.period")}>
                        <span class="adm-nowrap">{periodText(a.periodFrom, a.periodTo, lang)}</span>
                        <div class="small">
                          {t("ap.col.compliance")}: <span class="share bad">{formatShare(a.figures.compliance, lang)}</span>
                        </div>
                      </td>
                    </tr>
                  </tbody>
                ))}
              </table>
            </Scroll>
          )}
        </section>
        {p.id && (
          <section class="card ap-panel" ref={panel} aria-labelledby="ap-panel-h" data-testid="appeal-panel">
            <AppealPanel id={p.id} key={p.id} onChanged={loadList} />
          </section>
        )}
      </div>
    </div>
  );
}

/** The regional organizations over a period, and a draft for one below the target. */
function DraftSection(p: { onDrafted: (id: string) => void }) {
  const { t, lang, token } = useSession();
  const initial = analysisPeriod(Date.now(), 8);
  const [fromDate, setFromDate] = useState(initial.weekStarts[0]);
  const [toDate, setToDate] = useState(cityDateOf(Date.now()));
  const [target, setTarget] = useState(0.9);
  const [period, setPeriod] = useState(() => periodOf(initial.weekStarts[0], cityDateOf(Date.now()), Date.now()));
  const [rows, setRows] = useState<Perf[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [refusal, setRefusal] = useState<{ org: string; text: string; server: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const badPeriod = !fromDate || !toDate || fromDate > toDate || fromDate > cityDateOf(Date.now());

  useEffect(() => {
    setError(null);
    setRows(null);
    gql<{ organizationPerformance: Perf[] }>(PERFORMANCE, { ...period, target, lang }, token)
      .then((d) => setRows(d.organizationPerformance))
      .catch((e: ApiError) => setError(errorText(e, t)));
  }, [period, target, lang, token]);

  const show = (from: string, to: string) => {
    setFromDate(from);
    setToDate(to);
    if (from && to && from <= to) setPeriod(periodOf(from, to, Date.now()));
  };
  const lastWeeks = (n: number) => {
    const pd = analysisPeriod(Date.now(), n);
    show(pd.weekStarts[0], cityDateOf(Date.now()));
  };

  const draft = async (o: Perf) => {
    setBusy(o.organization.id);
    setRefusal(null);
    try {
      const d = await gql<{ draftAppeal: { id: string } }>(DRAFT, { org: o.organization.id, ...period, target }, token);
      p.onDrafted(d.draftAppeal.id);
    } catch (e) {
      const err = e as ApiError;
      setRefusal({
        org: o.organization.name,
        text: err.code === "VALIDATION" ? t("ap.err.refused") : errorText(err, t),
        server: err.code === "VALIDATION" ? err.message : "",
      });
    } finally {
      setBusy(null);
    }
  };

  const below = (rows ?? []).filter((r) => r.total.compliance !== null && r.total.compliance < target);
  return (
    <section class="card" aria-labelledby="ap-draft-h" data-testid="draft-section" data-from={period.from} data-to={period.to} data-target={target}>
      <h2 id="ap-draft-h">{t("ap.draft.title")}</h2>
      <p class="small muted">{t("ap.draft.hint")}</p>
      <form class="ap-period" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="ap-from">{t("ap.draft.from")}</label>
          <input id="ap-from" type="date" name="from" value={fromDate} max={toDate || undefined} onChange={(e) => show((e.target as HTMLInputElement).value, toDate)} />
        </div>
        <div class="field">
          <label for="ap-to">{t("ap.draft.to")}</label>
          <input id="ap-to" type="date" name="to" value={toDate} min={fromDate || undefined} max={cityDateOf(Date.now())} onChange={(e) => show(fromDate, (e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="ap-target">{t("ap.draft.target")}</label>
          <select id="ap-target" name="target" value={String(target)} onChange={(e) => setTarget(Number((e.target as HTMLSelectElement).value))}>
            {TARGETS.map((v) => (
              <option value={String(v)}>{formatShare(v, lang)}</option>
            ))}
          </select>
        </div>
        <div class="field ap-quick">
          <span class="label">{t("ap.draft.quick")}</span>
          <span class="adm-buttons">
            {WEEKS.map((n) => (
              <button type="button" class="secondary" onClick={() => lastWeeks(n)} data-testid={`weeks-${n}`}>
                {fill(t("ap.draft.weeks"), { n, plural: plural(lang, n, t("ap.plural.weeks")) })}
              </button>
            ))}
          </span>
        </div>
      </form>
      {badPeriod && (
        <p class="error" role="alert">
          {t("ap.err.period")}
        </p>
      )}
      <p class="muted small" data-testid="draft-period">
        {fill(t("ap.draft.periodIs"), { period: periodText(period.from, period.to, lang), target: formatShare(target, lang) })}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {refusal && (
        <div class="error ap-refusal" role="alert" data-testid="draft-refused">
          <p>
            {fill(t("ap.err.refusedFor"), { org: refusal.org })} {refusal.text}
          </p>
          {refusal.server && (
            <p class="small">
              {t("ap.err.serverSays")} <q lang="en" data-testid="server-message">{refusal.server}</q>
            </p>
          )}
        </div>
      )}
      {rows === null ? (
        !error && <p class="muted">…</p>
      ) : rows.length === 0 ? (
        <p class="muted">{t("ap.draft.noRegional")}</p>
      ) : (
        <>
          <p data-testid="below-count">
            {below.length === 0
              ? t("ap.draft.noneBelow")
              : fill(t("ap.draft.below"), { n: below.length, of: rows.length, target: formatShare(target, lang) })}
          </p>
          <Scroll label={fill(t("pl.tableOf"), { what: t("ap.draft.title") })}>
            <table class="adm-table pl-cards" data-testid="regional-table">
              <thead>
                <tr>
                  <th scope="col">{t("ap.col.org")}</th>
                  <th scope="col" class="num">
                    {t("ap.col.compliance")}
                  </th>
                  <th scope="col" class="num">
                    {t("ap.fig.onTime")}
                  </th>
                  <th scope="col" class="num">
                    {t("ap.fig.late")}
                  </th>
                  <th scope="col" class="num">
                    {t("ap.fig.openOverdue")}
                  </th>
                  <th scope="col">{t("ap.col.action")}</th>
                </tr>
              </thead>
              {rows.map((r) => {
                const isBelow = r.total.compliance !== null && r.total.compliance < target;
                return (
                  <tbody data-org={r.organization.id} data-below={isBelow ? "yes" : "no"} key={r.organization.id}>
                    <tr>
                      <th scope="row">{r.organization.name}</th>
                      <td class={"num adm-nowrap" + (isBelow ? " bad" : "")} data-label={t("ap.col.compliance")} data-testid="compliance">
                        {formatShare(r.total.compliance, lang)}
                      </td>
                      <td class="num" data-label={t("ap.fig.onTime")}>
                        {r.total.onTime}
                      </td>
                      <td class="num" data-label={t("ap.fig.late")} data-testid="late">
                        {r.total.late}
                      </td>
                      <td class="num" data-label={t("ap.fig.openOverdue")} data-testid="open-overdue">
                        {r.total.openOverdue}
                      </td>
                      <td class="adm-row-actions">
                        {isBelow ? (
                          <button type="button" disabled={busy !== null || badPeriod} onClick={() => draft(r)} data-testid="draft" aria-label={fill(t("ap.draft.forOrg"), { org: r.organization.name })}>
                            {busy === r.organization.id ? t("ap.draft.drafting") : t("ap.draft.button")}
                          </button>
                        ) : (
                          <span class="muted small">{t(judgedCount(r.total) === 0 ? "ap.draft.nothingDue" : "ap.draft.atTarget")}</span>
                        )}
                      </td>
                    </tr>
                  </tbody>
                );
              })}
            </table>
          </Scroll>
        </>
      )}
    </section>
  );
}

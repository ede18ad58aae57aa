/**
 * The supervisor's board: the city live (per-organization counts, overdue
 * and unrouted requests with reassignment, the escalation feed from the last
 * 24 hours on), the board as it stood at a past moment, compliance over 30
 * days, and the way to the analysis and the daily report.
 */
import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { Countdown, useNow } from "../components/Countdown";
import { ApiError, download, fetchAll, gql, subscribe } from "../lib/api";
import {
  applyToOverdue,
  ESCALATION_KINDS,
  pushEscalation,
  sortByTimeLeft,
  type RequestEventItem,
  type RequestRow,
} from "../lib/board";
import { complianceBars, type PerformanceLike } from "../lib/chart";
import { fromCityLocal, toCityLocal } from "../lib/compliance";
import { errorText } from "../lib/errors";
import { fill } from "../lib/i18n";
import { ROW } from "../lib/fragments";
import { CITY_TZ, formatDateTime } from "../lib/time";

interface BoardRow {
  organization: { id: string; name: string; subordination: string };
  dispatched: number;
  inProgress: number;
  overdue: number;
  resolvedToday: number;
}
interface Board {
  at: string;
  unrouted: number;
  rows: BoardRow[];
}

const BOARD = `subscription($lang: String!) { slaBoard { at unrouted rows {
  organization { id name(lang: $lang) subordination } dispatched inProgress overdue resolvedToday } } }`;
const LIST = `query($status: [RequestStatus!], $lang: String!, $first: Int!, $after: String) {
  list: requests(filter: { status: $status }, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { ${ROW} } }
  }
}`;
const ORGANIZATIONS = `query($lang: String!) { organizations { id name(lang: $lang) subordination } }`;
const EVENTS = `subscription($lang: String!) { requestEvents { seq kind at note actor status request { ${ROW} } } }`;
/** The kinds of the escalation feed, as `recentEvents` names them. */
export const FEED_KINDS = ["WARNING", "OVERDUE", "ESCALATED", "REJECTED", "REOPENED", "RAISED_TO_EMERGENCY"];
const FEED_SIZE = 50;
const RECENT = `query($since: DateTime!, $kinds: [String!]!, $first: Int!, $lang: String!) {
  recentEvents(since: $since, kinds: $kinds, first: $first) { seq kind at note actor status request { ${ROW} } }
}`;
const BOARD_AT = `query($at: DateTime!, $lang: String!) { slaBoard(at: $at) { at unrouted rows {
  organization { id name(lang: $lang) subordination } dispatched inProgress overdue resolvedToday } } }`;
const PERFORMANCE = `query($from: DateTime!, $to: DateTime!, $lang: String!) {
  organizationPerformance(from: $from, to: $to) {
    organization { id name(lang: $lang) subordination } total { compliance onTime late openOverdue }
  }
}`;
const REASSIGN = `mutation($id: ID!, $org: ID!, $reason: String!, $v: Int, $lang: String!) {
  r: reassignRequest(id: $id, organizationId: $org, reason: $reason, expectedVersion: $v) { ${ROW} }
}`;

const TARGET = 0.9;

/** A city date (YYYY-MM-DD) `days` before today. */
function cityDate(days: number): string {
  const d = new Date(Date.now() - days * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: CITY_TZ }).format(d);
}

/** The feed after a batch of past events: newest first, each event once, at most `cap`. */
function mergeFeed(feed: RequestEventItem[], past: RequestEventItem[], cap = FEED_SIZE): RequestEventItem[] {
  const seen = new Set<string>();
  // The batch just read wins over what the page held (its names are in the page's language now).
  return [...past, ...feed]
    .filter((e) => ESCALATION_KINDS.some((k) => e.kind.startsWith(k)))
    .filter((e) => {
      const key = `${e.request.id}:${e.seq}`;
      return seen.has(key) ? false : (seen.add(key), true);
    })
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))
    .slice(0, cap);
}

/** "the board is kept from 2026-11-23 10:00 UTC" → the instant, to say it in the reader's words. */
function keptFrom(message: string): string | null {
  const m = /(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(?::\d{2})? ?UTC/.exec(message);
  return m ? `${m[1]}T${m[2]}:00Z` : null;
}

/** The city live: organizations, overdue requests, escalations, compliance, reports. */
export function Supervisor() {
  const { t, lang, token } = useSession();
  const [board, setBoard] = useState<Board | null>(null);
  const [overdue, setOverdue] = useState<RequestRow[]>([]);
  const [unrouted, setUnrouted] = useState<RequestRow[]>([]);
  const [orgs, setOrgs] = useState<Array<{ id: string; name: string }>>([]);
  const [feed, setFeed] = useState<RequestEventItem[]>([]);
  const [perf, setPerf] = useState<PerformanceLike[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const [reportDate, setReportDate] = useState(cityDate(1));
  const [since, setSince] = useState<string>("");
  const [recentLoaded, setRecentLoaded] = useState(false);
  const [asOf, setAsOf] = useState(() => toCityLocal(Date.now() - 3_600_000));
  const [past, setPast] = useState<Board | null>(null);
  const [pastError, setPastError] = useState<string | null>(null);
  const now = useNow();

  const loadLists = () =>
    Promise.all([
      fetchAll<RequestRow>(LIST, { status: ["OVERDUE"], lang }, token, 30, 10),
      fetchAll<RequestRow>(LIST, { status: ["REGISTERED"], lang }, token, 30, 10),
      gql<{ organizations: Array<{ id: string; name: string }> }>(ORGANIZATIONS, { lang }, token),
    ])
      .then(([o, u, d]) => {
        setOverdue(sortByTimeLeft(o));
        // The unrouted queue holds the overdue ones no organization has, too.
        setUnrouted(sortByTimeLeft([...u, ...o]).filter((r) => !r.organization));
        setOrgs(d.organizations);
      })
      .catch((e: ApiError) => setError(errorText(e, t)));

  /** The feed as it stood over the last 24 hours; live events merge into it. */
  const loadRecent = () => {
    const from = new Date(Date.now() - 86_400_000).toISOString();
    setSince(from);
    gql<{ recentEvents: RequestEventItem[] }>(RECENT, { since: from, kinds: FEED_KINDS, first: FEED_SIZE, lang }, token)
      .then((d) => {
        setFeed((f) => mergeFeed(f, d.recentEvents));
        setRecentLoaded(true);
      })
      .catch((e: ApiError) => setError(errorText(e, t)));
  };

  /** The board as it stood at the moment typed (city time). */
  const showPast = async () => {
    const at = fromCityLocal(asOf);
    setPastError(null);
    if (!at) return setPastError(t("sv.asOfInvalid"));
    try {
      const d = await gql<{ slaBoard: Board }>(BOARD_AT, { at, lang }, token);
      setPast(d.slaBoard);
    } catch (e) {
      const err = e as ApiError;
      if (err.code === "NOT_FOUND") {
        const from = keptFrom(err.message);
        setPastError(from ? fill(t("sv.keptFrom"), { from: formatDateTime(from, lang) }) : `${t("sv.notKept")} ${err.message}`);
      } else setPastError(errorText(err, t));
      setPast(null);
    }
  };

  const loadPerformance = () => {
    const to = new Date();
    const from = new Date(to.getTime() - 30 * 86_400_000);
    gql<{ organizationPerformance: PerformanceLike[] }>(
      PERFORMANCE,
      { from: from.toISOString(), to: to.toISOString(), lang },
      token,
    )
      .then((d) => setPerf(d.organizationPerformance))
      .catch((e: ApiError) => setError(errorText(e, t)));
  };

  useEffect(() => {
    if (!token) return;
    loadLists();
    loadRecent();
    loadPerformance();
    const slow = setInterval(loadPerformance, 300_000);
    const stopBoard = subscribe<{ slaBoard: Board }>(
      BOARD,
      { lang },
      token,
      (d) => {
        setLive(true);
        setBoard(d.slaBoard);
      },
      (e) => {
        setLive(false);
        setError(errorText(e, t));
      },
    );
    const stopEvents = subscribe<{ requestEvents: RequestEventItem }>(
      EVENTS,
      { lang },
      token,
      (d) => {
        const e = d.requestEvents;
        setOverdue((rs) => applyToOverdue(rs, e));
        setFeed((f) => pushEscalation(f, e));
        setUnrouted((rs) => {
          const rest = rs.filter((x) => x.id !== e.request.id);
          const waiting = ["REGISTERED", "OVERDUE"].includes(e.request.status) && !e.request.organization;
          return waiting ? [e.request, ...rest] : rest;
        });
      },
      (e) => setError(errorText(e, t)),
    );
    return () => {
      clearInterval(slow);
      stopBoard();
      stopEvents();
    };
  }, [lang, token]);

  const reassign = async (row: RequestRow, org: string, reason: string) => {
    setError(null);
    try {
      const d = await gql<{ r: RequestRow }>(REASSIGN, { id: row.id, org, reason, v: row.version, lang }, token);
      const e: RequestEventItem = { seq: -1, kind: "REASSIGNED", at: "", note: reason, actor: "", status: d.r.status, request: d.r };
      setOverdue((rs) => applyToOverdue(rs, e));
      setUnrouted((rs) => rs.filter((x) => x.id !== row.id));
    } catch (e) {
      setError(`${row.number}: ${errorText(e, t)}`);
    }
  };

  const getReport = (ext: "csv" | "xlsx") =>
    download(`/reports/daily/${reportDate}.${ext}${lang === "en" ? "?lang=en" : ""}`, token!, `kontakt-${reportDate}.${ext}`).catch((e: ApiError) =>
      setError(errorText(e, t)),
    );

  const bars = complianceBars(perf, TARGET);
  const shown = past ?? board;
  return (
    <div class="supervisor">
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <nav class="sv-links" aria-label={t("sv.more")}>
        <a href="#/analysis">{t("sv.toAnalysis")}</a>
        <a href="#/report">{t("sv.toReport")}</a>
      </nav>
      <section class={"card" + (past ? " past-board" : "")} data-testid="board-card">
        <h1>
          {past ? (
            <>
              {t("sv.boardAsOf")} <span data-testid="as-of-label">{formatDateTime(past.at, lang)}</span>{" "}
              <span class="live history">{t("sv.history")}</span>
            </>
          ) : (
            <>
              {t("sv.board")} <span class={"live " + (live ? "on" : "off")}>{live ? t("live.on") : t("live.off")}</span>
            </>
          )}
        </h1>
        <form
          class="as-of"
          onSubmit={(e) => {
            e.preventDefault();
            showPast();
          }}
        >
          <label for="as-of">{t("sv.asOf")}</label>
          <input
            id="as-of"
            type="datetime-local"
            value={asOf}
            max={toCityLocal(now)}
            onInput={(e) => setAsOf((e.target as HTMLInputElement).value)}
          />
          <button type="submit" data-testid="show-past">
            {t("sv.showPast")}
          </button>
          {past && (
            <button type="button" class="secondary" onClick={() => setPast(null)} data-testid="back-to-live">
              {t("sv.backToLive")}
            </button>
          )}
        </form>
        <p class="small muted">{t("sv.asOfHint")}</p>
        {pastError && (
          <p class="error" role="alert" data-testid="past-error">
            {pastError}
          </p>
        )}
        {shown && (
          <>
            <table class="sla" data-testid={past ? "sla-board-past" : "sla-board"} data-at={shown.at}>
              <thead>
                <tr>
                  <th>{t("sv.org")}</th>
                  <th>{t("sv.dispatched")}</th>
                  <th>{t("sv.inProgress")}</th>
                  <th>{t("sv.overdue")}</th>
                  <th>{t("sv.resolvedToday")}</th>
                </tr>
              </thead>
              <tbody>
                {shown.rows.map((r) => (
                  <tr data-org={r.organization.id}>
                    <td>
                      {r.organization.name}{" "}
                      <span class="muted small">
                        {r.organization.subordination === "REGIONAL" ? t("sv.regional") : t("sv.city")}
                      </span>
                    </td>
                    <td class="num" data-col="dispatched">{r.dispatched}</td>
                    <td class="num" data-col="inProgress">{r.inProgress}</td>
                    <td class={"num" + (r.overdue > 0 ? " bad" : "")} data-col="overdue">
                      {r.overdue}
                    </td>
                    <td class="num" data-col="resolvedToday">{r.resolvedToday}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p class="muted">
              {t("sv.unrouted")}: <strong data-testid={past ? "unrouted-count-past" : "unrouted-count"}>{shown.unrouted}</strong> ·{" "}
              {past ? t("sv.asOfShort") : t("sv.updated")} {formatDateTime(shown.at, lang)}
            </p>
          </>
        )}
      </section>
      <div class="columns">
        <section class="card">
          <h2>{t("sv.overdueList")}</h2>
          <RequestList rows={overdue} orgs={orgs} now={now} onReassign={reassign} empty={t("sv.noOverdue")} testid="overdue" />
          {unrouted.length > 0 && (
            <>
              <h2>{t("sv.unrouted")}</h2>
              <RequestList rows={unrouted} orgs={orgs} now={now} onReassign={reassign} empty="" testid="unrouted" />
            </>
          )}
        </section>
        <section class="card" data-testid="feed-card" data-since={since} data-loaded={recentLoaded ? "true" : "false"}>
          <h2>{t("sv.feed")}</h2>
          <p class="small muted">{t("sv.feedSince")}</p>
          {feed.length === 0 ? (
            <p class="muted">{t("sv.feedEmpty")}</p>
          ) : (
            <ul class="feed" data-testid="feed">
              {feed.map((e) => (
                <li class={"kind-" + e.kind} data-key={`${e.request.id}:${e.seq}`} data-kind={e.kind} data-at={e.at}>
                  <span class="muted small">{formatDateTime(e.at, lang)}</span> <strong>{eventWords(t, e.kind)}</strong>{" "}
                  <a href={`#/request/${e.request.id}`}>{e.request.number}</a> · {e.request.organization?.name ?? t("sv.noOrg")}
                  {e.note ? ` · ${e.note}` : ""}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <div class="columns">
        <section class="card">
          <h2>{t("sv.compliance")}</h2>
          <div class="bars" data-testid="compliance">
            {bars.map((b) => (
              <div class="bar-row">
                <span class="bar-name">
                  {b.name} <span class="muted small">{b.subordination === "REGIONAL" ? t("sv.regional") : t("sv.city")}</span>
                </span>
                <span class="bar-track">
                  {b.percent != null && <span class={"bar" + (b.below ? " below" : "")} style={{ width: `${b.percent}%` }} />}
                  <span class="target" style={{ left: `${TARGET * 100}%` }} title={t("sv.target")} />
                </span>
                <span class="bar-value">{b.percent == null ? t("sv.noData") : `${b.percent}%`}</span>
              </div>
            ))}
          </div>
          <p class="small">
            <a href="#/analysis">{t("sv.toAnalysis")}</a>
          </p>
        </section>
        <section class="card">
          <h2>{t("sv.report")}</h2>
          <label>
            {t("sv.reportDate")}{" "}
            <input
              type="date"
              value={reportDate}
              max={cityDate(1)}
              onInput={(e) => setReportDate((e.target as HTMLInputElement).value)}
            />
          </label>{" "}
          <button onClick={() => getReport("csv")}>CSV</button> <button onClick={() => getReport("xlsx")}>XLSX</button>
          <p class="small">
            <a href="#/report">{t("sv.toReport")}</a>
          </p>
        </section>
      </div>
    </div>
  );
}

/** An event kind in words (`ev.*`), the kind itself when there are none. */
function eventWords(t: (k: string) => string, kind: string): string {
  const key = "ev." + kind;
  const w = t(key);
  return w === key ? kind : w;
}

function RequestList(p: {
  rows: RequestRow[];
  orgs: Array<{ id: string; name: string }>;
  now: number;
  onReassign: (r: RequestRow, org: string, reason: string) => void;
  empty: string;
  testid: string;
}) {
  const { lang } = useSession();
  if (p.rows.length === 0) return <p class="muted">{p.empty}</p>;
  return (
    <ul class="requests" data-testid={p.testid}>
      {p.rows.map((r) => (
        <li key={r.id} data-number={r.number}>
          <Countdown registeredAt={r.registeredAt} deadline={r.deadline} finished={false} now={p.now} lang={lang} />{" "}
          <a href={`#/request/${r.id}`}>
            <strong>{r.number}</strong>
          </a>{" "}
          {r.category?.name} · {r.address.label} · {r.organization?.name ?? "—"}
          <Reassign row={r} orgs={p.orgs} onReassign={p.onReassign} />
        </li>
      ))}
    </ul>
  );
}

function Reassign(p: {
  row: RequestRow;
  orgs: Array<{ id: string; name: string }>;
  onReassign: (r: RequestRow, org: string, reason: string) => void;
}) {
  const { t } = useSession();
  const [open, setOpen] = useState(false);
  const [org, setOrg] = useState("");
  const [reason, setReason] = useState("");
  if (!open)
    return (
      <button class="link" onClick={() => setOpen(true)}>
        {t("sv.reassign")}
      </button>
    );
  return (
    <form
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        if (org && reason.trim()) {
          p.onReassign(p.row, org, reason.trim());
          setOpen(false);
        }
      }}
    >
      <select value={org} onChange={(e) => setOrg((e.target as HTMLSelectElement).value)} aria-label={t("sv.reassignTo")}>
        <option value="">{t("sv.reassignTo")}…</option>
        {p.orgs
          .filter((o) => o.id !== p.row.organization?.id)
          .map((o) => (
            <option value={o.id}>{o.name}</option>
          ))}
      </select>
      <input placeholder={t("ct.reason")} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled={!org || !reason.trim()}>
        {t("ct.confirm")}
      </button>
      <button type="button" class="link" onClick={() => setOpen(false)}>
        {t("ct.cancel")}
      </button>
    </form>
  );
}

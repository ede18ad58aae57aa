import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { Countdown, useNow } from "../components/Countdown";
import { ApiError, download, fetchAll, gql, subscribe } from "../lib/api";
import { applyToOverdue, pushEscalation, sortByTimeLeft, type RequestEventItem, type RequestRow } from "../lib/board";
import { complianceBars, type PerformanceLike } from "../lib/chart";
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
      .catch((e: ApiError) => setError(e.message));

  const loadPerformance = () => {
    const to = new Date();
    const from = new Date(to.getTime() - 30 * 86_400_000);
    gql<{ organizationPerformance: PerformanceLike[] }>(
      PERFORMANCE,
      { from: from.toISOString(), to: to.toISOString(), lang },
      token,
    )
      .then((d) => setPerf(d.organizationPerformance))
      .catch((e: ApiError) => setError(e.message));
  };

  useEffect(() => {
    if (!token) return;
    loadLists();
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
        setError(e.message);
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
      (e) => setError(e.message),
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
      setError(`${row.number}: ${(e as ApiError).message}`);
    }
  };

  const getReport = (ext: "csv" | "xlsx") =>
    download(`/reports/daily/${reportDate}.${ext}`, token!, `kontakt-${reportDate}.${ext}`).catch((e: ApiError) =>
      setError(e.message),
    );

  const bars = complianceBars(perf, TARGET);
  return (
    <div class="supervisor">
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <section class="card">
        <h1>
          {t("sv.board")} <span class={"live " + (live ? "on" : "off")}>{live ? t("live.on") : t("live.off")}</span>
        </h1>
        {board && (
          <>
            <table class="sla" data-testid="sla-board">
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
                {board.rows.map((r) => (
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
              {t("sv.unrouted")}: <strong data-testid="unrouted-count">{board.unrouted}</strong> · {t("sv.updated")}{" "}
              {formatDateTime(board.at, lang)}
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
        <section class="card">
          <h2>{t("sv.feed")}</h2>
          {feed.length === 0 ? (
            <p class="muted">{t("sv.feedEmpty")}</p>
          ) : (
            <ul class="feed" data-testid="feed">
              {feed.map((e) => (
                <li class={"kind-" + e.kind}>
                  <span class="muted small">{formatDateTime(e.at, lang)}</span> <strong>{e.kind}</strong>{" "}
                  {e.request.number} · {e.request.organization?.name ?? "—"}
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
        </section>
      </div>
    </div>
  );
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
          <strong>{r.number}</strong> {r.category?.name} · {r.address.label} · {r.organization?.name ?? "—"}
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

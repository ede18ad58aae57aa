import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { Countdown, useNow } from "../components/Countdown";
import { ApiError, fetchAll, gql, subscribe } from "../lib/api";
import { applyToQueue, sortByTimeLeft, type RequestEventItem, type RequestRow } from "../lib/board";
import { ROW } from "../lib/fragments";
import { formatDateTime } from "../lib/time";
import { errorText } from "../lib/errors";
import { fill } from "../lib/i18n";
import { MIN_REASON } from "./RequestPage";

const QUEUE = `query($org: ID!, $lang: String!, $first: Int!, $after: String) {
  list: requests(filter: { organizationId: $org, status: [DISPATCHED, IN_PROGRESS, OVERDUE] }, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { ${ROW} } }
  }
}`;
const EVENTS = `subscription($org: ID!, $lang: String!) {
  requestEvents(filter: { organizationId: $org }) { seq kind at note actor status request { ${ROW} } }
}`;
const ACTIONS: Record<string, string> = {
  accept: `mutation($id: ID!, $v: Int, $lang: String!) { r: acceptRequest(id: $id, expectedVersion: $v) { ${ROW} } }`,
  resolve: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: resolveRequest(id: $id, expectedVersion: $v, resolution: $text) { ${ROW} } }`,
  reject: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: rejectRequest(id: $id, expectedVersion: $v, reason: $text) { ${ROW} } }`,
};

/** The organization's queue against the clock. */
export function Contractor() {
  const { t, lang, token, me } = useSession();
  const org = me?.organization?.id ?? "";
  const [rows, setRows] = useState<RequestRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const now = useNow();

  const load = () =>
    fetchAll<RequestRow>(QUEUE, { org, lang }, token)
      .then((d) => setRows(sortByTimeLeft(d)))
      .catch((e: ApiError) => setError(errorText(e, t)));

  useEffect(() => {
    if (!token || !org) return;
    load();
    // A slow refetch heals what the event filter cannot show, such as a request moved away.
    const heal = setInterval(load, 60_000);
    const stop = subscribe<{ requestEvents: RequestEventItem }>(
      EVENTS,
      { org, lang },
      token,
      (d) => {
        setLive(true);
        setRows((rs) => applyToQueue(rs, d.requestEvents, org));
      },
      (e) => {
        setLive(false);
        setError(errorText(e, t));
      },
    );
    setLive(true);
    return () => {
      clearInterval(heal);
      stop();
    };
  }, [org, lang, token]);

  const act = async (kind: string, row: RequestRow, text?: string) => {
    setError(null);
    try {
      const d = await gql<{ r: RequestRow }>(ACTIONS[kind], { id: row.id, v: row.version, text, lang }, token);
      const e: RequestEventItem = { seq: -1, kind, at: "", note: null, actor: "", status: d.r.status, request: d.r };
      setRows((rs) => applyToQueue(rs, e, org));
    } catch (e) {
      setError(`${row.number}: ${errorText(e, t)}`);
      if ((e as ApiError).code === "CONFLICT") load();
    }
  };

  return (
    <section class="card board">
      <h1>
        {t("ct.title")}: {me?.organization?.name}{" "}
        <span class={"live " + (live ? "on" : "off")}>{live ? t("live.on") : t("live.off")}</span>
      </h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {rows.length === 0 ? (
        <p class="muted">{t("ct.empty")}</p>
      ) : (
        <table class="queue" data-testid="queue">
          <thead>
            <tr>
              <th>{t("ct.left")}</th>
              <th>{t("op.number")}</th>
              <th>{t("op.category")}</th>
              <th>{t("op.address")}</th>
              <th>{t("op.description")}</th>
              <th>{t("map.status")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <QueueRow key={r.id} row={r} now={now} onAct={act} />
            ))}
          </tbody>
        </table>
      )}
      <p class="muted" data-testid="queue-count">
        {t("ct.count")}: {rows.length}
      </p>
    </section>
  );
}

function QueueRow(p: { row: RequestRow; now: number; onAct: (kind: string, row: RequestRow, text?: string) => void }) {
  const { t, lang } = useSession();
  const r = p.row;
  const [asking, setAsking] = useState<"resolve" | "reject" | null>(null);
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const canAccept = r.status === "DISPATCHED" || r.status === "OVERDUE";
  return (
    <tr data-number={r.number} class={"status-" + r.status}>
      <td>
        <Countdown registeredAt={r.registeredAt} deadline={r.deadline} finished={false} now={p.now} lang={lang} />
        <div class="muted small">{formatDateTime(r.deadline, lang)}</div>
      </td>
      <td>
        <a href={`#/request/${r.id}`}>
          <strong>{r.number}</strong>
        </a>
        <div class={"class-tag " + r.deadlineClass}>{t("class." + r.deadlineClass)}</div>
      </td>
      <td data-label={t("op.category")}>{r.category?.name}</td>
      <td data-label={t("op.address")}>
        {r.address.label}
        {r.incident && (
          <div class="incident-mark" data-testid="incident-mark">
            ⚠ {t("ct.incident")}: {r.incident.title}
          </div>
        )}
      </td>
      <td class="description" data-label={t("op.description")}>
        {r.description}
        {r.applicant?.phone && (
          <div>
            {t("ct.phone")}:{" "}
            <a href={`tel:${r.applicant.phone}`} data-testid="applicant-phone">
              {r.applicant.phone}
            </a>
            {r.applicant.name && <span class="muted"> · {r.applicant.name}</span>}
          </div>
        )}
      </td>
      <td data-label={t("map.status")}>{t("status." + r.status)}</td>
      <td class="actions">
        {asking ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const said = text.trim();
              if (!said) return;
              if (asking === "reject") {
                // "Not ours" sends the request back: a real reason, and a second look.
                if (said.length < MIN_REASON) return setProblem(fill(t("ct.rejectShort"), { n: MIN_REASON }));
                if (!confirm(fill(t("ct.rejectConfirm"), { number: r.number }))) return;
              }
              p.onAct(asking, r, said);
              setAsking(null);
              setProblem(null);
              setText("");
            }}
          >
            <label class="visually-hidden" for={`text-${r.id}`}>
              {asking === "resolve" ? t("ct.resolution") : t("ct.reason")}
            </label>
            <input
              id={`text-${r.id}`}
              name="text"
              autoFocus
              aria-invalid={!!problem}
              placeholder={asking === "resolve" ? t("ct.resolution") : t("ct.reason")}
              value={text}
              onInput={(e) => setText((e.target as HTMLInputElement).value)}
              onKeyDown={(e) => e.key === "Escape" && setAsking(null)}
            />
            <button type="submit" disabled={!text.trim()}>
              {t("ct.confirm")}
            </button>
            <button type="button" class="link" onClick={() => setAsking(null)}>
              {t("ct.cancel")}
            </button>
            {problem && (
              <span class="error" role="alert" data-testid="reject-problem">
                {problem}
              </span>
            )}
          </form>
        ) : (
          <>
            {canAccept && <button onClick={() => p.onAct("accept", r)}>{t("ct.accept")}</button>}
            <button onClick={() => setAsking("resolve")}>{t("ct.resolve")}</button>
            <button class="secondary" onClick={() => setAsking("reject")}>
              {t("ct.reject")}
            </button>
          </>
        )}
      </td>
    </tr>
  );
}

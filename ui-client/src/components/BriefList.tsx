import { useSession } from "../app";
import { Countdown, useNow } from "./Countdown";
import type { Brief } from "../lib/requests";
import { formatDateTime } from "../lib/time";

const OPEN = ["REGISTERED", "DISPATCHED", "IN_PROGRESS", "OVERDUE"];

/** Requests as rows that open the request page: number, status, category and address, organization, deadline and time left. */
export function BriefList(p: { rows: Brief[]; testid: string; caption?: string }) {
  const { t, lang } = useSession();
  const now = useNow();
  return (
    <table class="briefs-table" data-testid={p.testid}>
      {p.caption && <caption class="muted">{p.caption}</caption>}
      <thead>
        <tr>
          <th scope="col">{t("op.number")}</th>
          <th scope="col">{t("map.status")}</th>
          <th scope="col">{t("op.category")}</th>
          <th scope="col">{t("op.organization")}</th>
          <th scope="col">{t("op.deadline")}</th>
        </tr>
      </thead>
      <tbody>
        {p.rows.map((r) => (
          <tr data-number={r.number} class={"status-" + r.status}>
            <td>
              <a href={`#/request/${r.id}`}>
                <strong>{r.number}</strong>
              </a>
              <div class="muted small">{formatDateTime(r.registeredAt, lang)}</div>
            </td>
            <td>{t("status." + r.status)}</td>
            <td>
              {r.category?.name ?? "—"}
              <div class="muted small">{r.address.label}</div>
            </td>
            <td>{r.organization?.name ?? t("op.unrouted")}</td>
            <td>
              {formatDateTime(r.deadline, lang)}
              {OPEN.includes(r.status) && (
                <div>
                  <Countdown registeredAt={r.registeredAt} deadline={r.deadline} finished={false} now={now} lang={lang} />
                </div>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

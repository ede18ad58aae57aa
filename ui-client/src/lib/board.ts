/** The boards' live lists: what an event does to them and how they are ordered. */

/** The request fields every board reads. */
export interface RequestRow {
  id: string;
  number: string;
  status: string;
  version: number;
  deadline: string;
  registeredAt: string;
  deadlineClass: string;
  description: string;
  escalation: string | null;
  address: { label: string };
  category: { code: string; name: string } | null;
  organization: { id: string; name: string } | null;
  /** Name and phone: the executing organization calls the applicant for access. */
  applicant?: { name: string | null; phone: string | null } | null;
  incident?: { id: string; title: string } | null;
}

/** A `requestEvents` item. */
export interface RequestEventItem {
  seq: number;
  kind: string;
  at: string;
  note: string | null;
  actor: string;
  status: string;
  request: RequestRow;
}

/** Statuses in which the organization still owes work. */
export const OPEN_STATUSES = ["REGISTERED", "DISPATCHED", "IN_PROGRESS", "OVERDUE"];

/** True once nothing more is expected of the organization. */
export const isFinished = (status: string) => !OPEN_STATUSES.includes(status);

/** Open first by deadline (least time left on top), then the rest by number. */
export function sortByTimeLeft<T extends RequestRow>(rows: T[]): T[] {
  return [...rows].sort((a, b) => {
    const fa = isFinished(a.status);
    const fb = isFinished(b.status);
    if (fa !== fb) return fa ? 1 : -1;
    if (!fa) return Date.parse(a.deadline) - Date.parse(b.deadline) || a.number.localeCompare(b.number);
    return b.number.localeCompare(a.number);
  });
}

/**
 * A contractor's queue after an event: the request is replaced by its newer
 * version, dropped once finished or sent elsewhere, added when it arrives.
 * Older versions (events may arrive after a refetch) change nothing.
 */
export function applyToQueue(rows: RequestRow[], e: RequestEventItem, orgId: string): RequestRow[] {
  const r = e.request;
  const at = rows.findIndex((x) => x.id === r.id);
  if (at >= 0 && rows[at].version >= r.version) return rows;
  const belongs = r.organization?.id === orgId && !isFinished(r.status);
  const rest = at >= 0 ? rows.filter((x) => x.id !== r.id) : rows;
  return sortByTimeLeft(belongs ? [...rest, r] : rest);
}

/** Event kinds the supervisor's escalation feed shows. */
export const ESCALATION_KINDS = ["WARNING", "OVERDUE", "ESCALATED", "REJECTED", "REOPENED", "RAISED"];

/** The escalation feed after an event: newest first, no repeats, at most `cap` items. */
export function pushEscalation(feed: RequestEventItem[], e: RequestEventItem, cap = 50): RequestEventItem[] {
  if (!ESCALATION_KINDS.some((k) => e.kind.startsWith(k))) return feed;
  if (feed.some((x) => x.request.id === e.request.id && x.seq === e.seq)) return feed;
  return [e, ...feed].slice(0, cap);
}

/** The overdue list after an event: open overdue requests by deadline. */
export function applyToOverdue(rows: RequestRow[], e: RequestEventItem): RequestRow[] {
  const r = e.request;
  const at = rows.findIndex((x) => x.id === r.id);
  if (at >= 0 && rows[at].version >= r.version) return rows;
  const rest = rows.filter((x) => x.id !== r.id);
  return r.status === "OVERDUE" ? sortByTimeLeft([...rest, r]) : rest;
}

/** The request as the request page, the search and the caller's panel read it. */

/** One line of a result list. */
export const BRIEF = `id number status deadline registeredAt deadlineClass description timeLeft
  address { label } category { name(lang: $lang) } organization { name(lang: $lang) }`;

export interface Brief {
  id: string;
  number: string;
  status: string;
  deadline: string;
  registeredAt: string;
  deadlineClass: string;
  description: string;
  timeLeft: string | null;
  address: { label: string };
  category: { name: string } | null;
  organization: { name: string } | null;
}

/** Everything the request page shows. */
export const FULL = `id number status version deadline registeredAt deadlineClass description escalation timeLeft
  channel reopened resolution resolvedAt resolvedLate closedAt
  address { id label district } addressUnconfirmed
  category { code name(lang: $lang) }
  organization { id name(lang: $lang) }
  applicant { name phone callbackConsent }
  coApplicants { name phone callbackConsent }
  incident { id title kind status source }
  allowedActions
  statusScript(lang: $lang)
  history { seq at kind actor actorRole note }
  callbacks { id status attempts outcome nextAt result history { at kind note } }
  notifications { kind organizationId status attempts failingSince lastError deliveredAt channels }`;

export interface NotificationLine {
  kind: string;
  organizationId: string | null;
  status: string;
  attempts: number;
  failingSince: string | null;
  lastError: string | null;
  deliveredAt: string | null;
  channels: string[];
}

export interface FullRequest extends Brief {
  version: number;
  escalation: string | null;
  channel: string;
  reopened: number;
  resolution: string | null;
  resolvedAt: string | null;
  resolvedLate: boolean | null;
  closedAt: string | null;
  address: { id: string; label: string; district: string };
  addressUnconfirmed: boolean;
  category: { code: string; name: string } | null;
  organization: { id: string; name: string } | null;
  applicant: { name: string | null; phone: string | null; callbackConsent: boolean } | null;
  coApplicants: Array<{ name: string | null; phone: string | null; callbackConsent: boolean }>;
  incident: { id: string; title: string; kind: string; status: string; source: string } | null;
  allowedActions: string[];
  notifications: NotificationLine[];
  statusScript: string;
  history: Array<{ seq: number; at: string; kind: string; actor: string; actorRole: string | null; note: string | null }>;
  callbacks: Array<{
    id: string;
    status: string;
    attempts: number;
    outcome: string | null;
    nextAt: string;
    result: string;
    history: Array<{ at: string; kind: string; note: string | null }>;
  }>;
}

/** How a search box's text is read: a request number, a phone, or words. */
export type SearchKind = { kind: "number"; number: string } | { kind: "phone"; phone: string } | { kind: "words"; text: string };

/** Reads what an operator typed into the search box. */
export function readSearch(raw: string): SearchKind | null {
  const s = raw.trim();
  if (!s) return null;
  if (/^\d{4}-\d{1,6}$/.test(s)) {
    const [y, n] = s.split("-");
    return { kind: "number", number: `${y}-${n.padStart(6, "0")}` };
  }
  // Digits with phone punctuation only, at least six of them: a phone, local or full.
  if (/^[\d\s+\-()]+$/.test(s) && s.replace(/\D/g, "").length >= 6) {
    // The server reads the number in any form, a local one in the city's code.
    return { kind: "phone", phone: s };
  }
  return { kind: "words", text: s };
}

/** Newest first, each once: the merge of several result lists. */
export function mergeNewestFirst<T extends { id: string; registeredAt: string }>(...lists: T[][]): T[] {
  const seen = new Set<string>();
  const all: T[] = [];
  for (const list of lists) {
    for (const r of list) {
      if (!seen.has(r.id)) {
        seen.add(r.id);
        all.push(r);
      }
    }
  }
  return all.sort((a, b) => Date.parse(b.registeredAt) - Date.parse(a.registeredAt));
}

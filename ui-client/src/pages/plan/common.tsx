/**
 * What the plan and appeals pages share: the shapes the API answers, and
 * numbers, months and hours of the week in the reader's notation.
 */
import { useSession } from "../../app";
import { cityDateOf, formatDate } from "../../lib/compliance";
import { fill, type Lang } from "../../lib/i18n";
import { formatDateTime } from "../../lib/time";

/** A quantity of a material. */
export interface Material {
  name: string;
  unit: string;
  quantity: number;
}

/** One class group's queue in the peak month. */
export interface GroupPlan {
  group: "EMERGENCY" | "REGULAR";
  requests: number;
  meanServiceHours: number;
  crewsNeeded: number | null;
  complianceConfigured: number | null;
  complianceCeiling: number | null;
}

/** One organization's row of `resourcePlan`. */
export interface OrgPlan {
  organizationId: string;
  organization: { name: string; kind: string; subordination: string } | null;
  expectedRequests: number;
  peakMonth: string | null;
  peakArrivalsPerHour: number;
  peakHourOfWeek: number | null;
  meanServiceHours: number;
  crewsNeeded: number | null;
  crewsForBest: number | null;
  crewsConfigured: number;
  gap: number | null;
  complianceConfigured: number | null;
  complianceNeeded: number | null;
  complianceCeiling: number | null;
  crewHours: number;
  vehicleHours: number;
  vehiclesNeeded: number;
  materials: Material[];
  categoriesWithoutNorm: string[];
  groups: GroupPlan[];
}

/** One organization's expected month. */
export interface MonthForecast {
  organizationId: string;
  month: string;
  expectedRequests: number;
  byClass: Array<{ deadlineClass: string; expectedRequests: number }>;
}

/** Moving one crew between two city organizations. */
export interface BalanceMove {
  fromId: string;
  toId: string;
  sameKind: boolean;
  fromCrews: number;
  toCrews: number;
  fromBefore: number;
  fromAfter: number;
  toBefore: number;
  toAfter: number;
  overallBefore: number;
  overallAfter: number;
}

/** The resource plan for the coming months. */
export interface ResourcePlan {
  target: number;
  months: string[];
  warnings: string[];
  organizations: OrgPlan[];
  forecast: MonthForecast[];
  balance: BalanceMove[];
}

/** The deadline classes, most urgent first. */
export const CLASSES = ["EMERGENCY", "SHORT", "MEDIUM", "LONG"];

const locale = (lang: Lang) => (lang === "ru" ? "ru-RU" : "en-GB");

/** A number with at most `digits` decimals in the reader's notation: `1 234,5`, `1,234.5`. */
export function formatNumber(n: number, lang: Lang, digits = 1): string {
  return new Intl.NumberFormat(locale(lang), { maximumFractionDigits: digits }).format(n);
}

/** A planned month `YYYY-MM` as people say it: `янв. 2027`, `Jan 2027`. */
export function formatMonth(month: string, lang: Lang, withYear = true): string {
  const [y, m] = month.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(lang), {
    timeZone: "UTC",
    month: "short",
    ...(withYear ? { year: "numeric" } : {}),
  }).format(new Date(Date.UTC(y, m - 1, 1)));
}

/** An hour of the week (Monday 00:00 is 0) as `пн 10:00`, `Mon 10:00`. */
export function formatHourOfWeek(h: number, lang: Lang): string {
  // 2024-01-01 was a Monday.
  const day = new Intl.DateTimeFormat(locale(lang), { timeZone: "UTC", weekday: "short" }).format(
    new Date(Date.UTC(2024, 0, 1 + Math.floor(h / 24))),
  );
  return `${day} ${String(h % 24).padStart(2, "0")}:00`;
}

/** A weekday 1 (Monday) … 7 (Sunday) in short words. */
export function weekdayName(d: number, lang: Lang): string {
  return new Intl.DateTimeFormat(locale(lang), { timeZone: "UTC", weekday: "short" }).format(new Date(Date.UTC(2024, 0, d)));
}

/** Working days as read: runs of consecutive days joined (`пн–пт`, `пн, ср, пт`). */
export function formatDays(days: number[], lang: Lang): string {
  const sorted = [...new Set(days)].sort((a, b) => a - b);
  const runs: Array<[number, number]> = [];
  for (const d of sorted) {
    const last = runs[runs.length - 1];
    if (last && d === last[1] + 1) last[1] = d;
    else runs.push([d, d]);
  }
  return runs
    .map(([a, b]) =>
      a === b ? weekdayName(a, lang) : b === a + 1 ? `${weekdayName(a, lang)}, ${weekdayName(b, lang)}` : `${weekdayName(a, lang)}–${weekdayName(b, lang)}`,
    )
    .join(", ");
}

/** `08:00–17:00`; 24 reads as the end of the day. */
export function formatHours(start: number, end: number): string {
  const hh = (h: number) => `${String(h).padStart(2, "0")}:00`;
  return `${hh(start)}–${hh(end)}`;
}

/** A decimal the reader typed, with a comma or a point; null when it is not a finite number. */
export function parseDecimal(s: string): number | null {
  const v = s.trim().replace(/\s/g, "").replace(",", ".");
  if (!/^-?\d*\.?\d+$|^-?\d+\.$/.test(v)) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Where an appeal stands: its status and the moments that changed it. */
export interface AppealState {
  status: "DRAFT" | "SENT" | "WITHDRAWN";
  sentAt: string | null;
  outgoingNumber: string | null;
  withdrawnAt: string | null;
}

/** The period an appeal judged, in city dates (its end is exclusive). */
export function periodText(from: string, to: string, lang: "ru" | "en"): string {
  const a = formatDate(cityDateOf(Date.parse(from)), lang);
  const b = formatDate(cityDateOf(Date.parse(to) - 1), lang);
  return `${a} — ${b}`;
}

/** Where an appeal stands, in words: a draft, sent under a number on a date, or withdrawn. */
export function StatusText(p: { a: AppealState }) {
  const { t, lang } = useSession();
  const a = p.a;
  return (
    <span class={"ap-status " + a.status} data-testid="status" data-status={a.status}>
      {a.status === "SENT" && a.outgoingNumber && a.sentAt
        ? fill(t("ap.status.sentAs"), { number: a.outgoingNumber, date: formatDateTime(a.sentAt, lang) })
        : a.status === "WITHDRAWN" && a.withdrawnAt
          ? fill(t("ap.status.withdrawnOn"), { date: formatDateTime(a.withdrawnAt, lang) })
          : t("ap.status." + a.status)}
    </span>
  );
}


/**
 * Compliance figures as the analysis and the daily report pages read them:
 * the shapes the API answers, the periods they ask for (whole city weeks,
 * the city's yesterday), and the words and numbers they show.
 *
 * Periods are built in city time because the server buckets weeks by the
 * Monday of the city date and days by the city's midnight; a period that
 * started at some hour of a browser's own time zone would cut a week in two.
 */
import { CITY_TZ, parseIsoDuration } from "./time";

/** On time, late and still open past the deadline: one compliance figure. */
export interface Tally {
  onTime: number;
  late: number;
  openOverdue: number;
  /** on time ÷ (on time + late + open overdue); null with nothing due. */
  compliance: number | null;
}

/** The three ways a request due in a period ended up (`ComplianceOutcome`). */
export type Outcome = "ON_TIME" | "LATE" | "OPEN_OVERDUE";

/** The Tally field each outcome is counted in. */
export const OUTCOME_FIELD: Record<Outcome, "onTime" | "late" | "openOverdue"> = {
  ON_TIME: "onTime",
  LATE: "late",
  OPEN_OVERDUE: "openOverdue",
};

/** One organization over the period (`organizationPerformance`). */
export interface Performance {
  organization: { id: string; name: string; subordination: string };
  total: Tally;
  weeks: Array<{ weekStart: string; compliance: Tally }>;
  byClass: Array<{ deadlineClass: string; compliance: Tally }>;
  byCategory: Array<{ categoryCode: string; compliance: Tally }>;
  worstCategoryCodes: string[];
  repeatAddresses: Array<{ label: string; requests: number }>;
  appealDraft: string | null;
}

/** The regulated target: 90 % of the requests due resolved on time. */
export const TARGET = 0.9;

/** How many requests a figure judges. */
export const judgedCount = (t: Tally) => t.onTime + t.late + t.openOverdue;

/** An empty figure (a week with nothing due). */
export const EMPTY: Tally = { onTime: 0, late: 0, openOverdue: 0, compliance: null };

const DAY = 86_400_000;

/** The city date (`YYYY-MM-DD`) at the instant `ms`. */
export function cityDateOf(ms: number): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: CITY_TZ }).format(new Date(ms));
}

/** The city's offset from UTC at `ms`, in minutes (Moscow: +180). */
export function cityOffsetMinutes(ms: number): number {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: CITY_TZ,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(ms));
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(n("year"), n("month") - 1, n("day"), n("hour"), n("minute"), n("second"));
  return Math.round((wall - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** The instant of a city wall-clock time `YYYY-MM-DD` + `HH:MM`. */
export function cityInstant(date: string, time = "00:00"): number {
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  // The offset at the wall time read as UTC is right except within hours of a change; a second look settles it.
  const first = wall - cityOffsetMinutes(wall) * 60_000;
  return wall - cityOffsetMinutes(first) * 60_000;
}

/** `date` moved by `days` calendar days. */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d) + days * DAY).toISOString().slice(0, 10);
}

/** The Monday starting the week of `date`. */
export function mondayOf(date: string): string {
  const [y, m, d] = date.split("-").map(Number);
  const weekday = (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
  return addDays(date, -weekday);
}

/** An analysis period: whole city weeks, the last one the week under way up to now. */
export interface Period {
  from: string;
  to: string;
  /** The Mondays of its weeks, oldest first. */
  weekStarts: string[];
}

/** The last `weeks` city weeks ending at `now`: from the Monday `weeks − 1` weeks back, 00:00 city time. */
export function analysisPeriod(now: number, weeks: number): Period {
  const thisMonday = mondayOf(cityDateOf(now));
  const weekStarts = Array.from({ length: weeks }, (_, i) => addDays(thisMonday, 7 * (i - weeks + 1)));
  return { from: new Date(cityInstant(weekStarts[0])).toISOString(), to: new Date(now).toISOString(), weekStarts };
}

/** Every week of the period with its figure; weeks the API left out had nothing due. */
export function everyWeek(p: Pick<Performance, "weeks">, weekStarts: string[]): Array<{ weekStart: string; compliance: Tally }> {
  const byStart = new Map(p.weeks.map((w) => [w.weekStart, w.compliance]));
  const extra = p.weeks.filter((w) => !weekStarts.includes(w.weekStart)).map((w) => w.weekStart);
  return [...weekStarts, ...extra].sort().map((weekStart) => ({ weekStart, compliance: byStart.get(weekStart) ?? EMPTY }));
}

/** The city's yesterday at `now`: the daily report's default date. */
export function cityYesterday(now: number): string {
  return addDays(cityDateOf(now), -1);
}

/** A `datetime-local` value (`YYYY-MM-DDTHH:MM`) in city time for the instant `ms`. */
export function toCityLocal(ms: number): string {
  const date = cityDateOf(ms);
  const minutes = Math.floor((ms - cityInstant(date)) / 60_000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date}T${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

/** The instant (ISO) of a `datetime-local` value read as city time; null when it is not one. */
export function fromCityLocal(value: string): string | null {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(value);
  if (!m) return null;
  return new Date(cityInstant(m[1], m[2])).toISOString();
}

/** A share as per cent with one decimal in the reader's notation: `87,5 %`, `87.5%`; a dash when null. */
export function formatShare(share: number | null, lang: "ru" | "en"): string {
  if (share == null) return "—";
  const n = new Intl.NumberFormat(lang === "ru" ? "ru-RU" : "en-GB", { maximumFractionDigits: 1 }).format(
    Math.round(share * 1000) / 10,
  );
  return lang === "ru" ? `${n} %` : `${n}%`;
}

/** A city date as people write it: `05.10.2026` (ru), `05/10/2026` (en). */
export function formatDate(date: string, lang: "ru" | "en"): string {
  const [y, m, d] = date.split("-");
  return lang === "ru" ? `${d}.${m}.${y}` : `${d}/${m}/${y}`;
}

/** An ISO 8601 duration (`PT5H30M`) in hours with one decimal; a dash when absent. */
export function durationHours(iso: string | null, lang: "ru" | "en"): string {
  const s = iso == null ? null : parseIsoDuration(iso);
  if (s == null) return "—";
  return new Intl.NumberFormat(lang === "ru" ? "ru-RU" : "en-GB", { maximumFractionDigits: 1 }).format(s / 3600);
}

/** The sum of figures, compliance recomputed. */
export function sumTallies(ts: Tally[]): Tally {
  const s = ts.reduce((a, t) => ({ onTime: a.onTime + t.onTime, late: a.late + t.late, openOverdue: a.openOverdue + t.openOverdue }), {
    onTime: 0,
    late: 0,
    openOverdue: 0,
  });
  const n = s.onTime + s.late + s.openOverdue;
  return { ...s, compliance: n > 0 ? s.onTime / n : null };
}

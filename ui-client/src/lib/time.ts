/** Deadlines, countdowns and the urgency colours shared by every board. */

/** The city's time zone: deadlines are read out in it. */
export const CITY_TZ = "Europe/Moscow";

/** Share of the window after which a request is flagged, as the server's WARNING step. */
export const WARNING_SHARE = 0.75;

export type Urgency = "ok" | "warning" | "overdue" | "done";

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * Time left as operators read it: `05:03:12` under a day, `2 д 04 ч` beyond,
 * with a minus sign once overdue.
 */
export function formatLeft(ms: number, lang: "ru" | "en"): string {
  const sign = ms < 0 ? "−" : "";
  const total = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days > 0) {
    return lang === "ru" ? `${sign}${days} д ${pad(hours)} ч` : `${sign}${days} d ${pad(hours)} h`;
  }
  return `${sign}${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
}

/** Where a request stands against its window at `now`. */
export function urgency(registeredAt: string, deadline: string, now: number, finished: boolean): Urgency {
  if (finished) return "done";
  const start = Date.parse(registeredAt);
  const end = Date.parse(deadline);
  if (now >= end) return "overdue";
  const window = end - start;
  if (window > 0 && now - start >= window * WARNING_SHARE) return "warning";
  return "ok";
}

/** A moment in city time: `29.11.2026, 21:40`. */
export function formatDateTime(iso: string, lang: "ru" | "en"): string {
  return new Intl.DateTimeFormat(lang === "ru" ? "ru-RU" : "en-GB", {
    timeZone: CITY_TZ,
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(iso));
}

/** An ISO 8601 duration as the API writes it (`PT6H`, `-PT1H20M5S`, `P7D`) in seconds; null if unreadable. */
export function parseIsoDuration(s: string): number | null {
  const m = /^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(s);
  if (!m || s.endsWith("P") || s.endsWith("T")) return null;
  const [, neg, d, h, min, sec] = m;
  const total = Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(sec ?? 0);
  return neg ? -total : total;
}

/** `6 ч`, `24 ч`, `3 дн.`, `7 дн.`: a regulated window in words. */
export function formatWindow(seconds: number, lang: "ru" | "en"): string {
  const hours = Math.round(seconds / 3600);
  if (hours < 48) return lang === "ru" ? `${hours} ч` : `${hours} h`;
  const days = Math.round(hours / 24);
  return lang === "ru" ? `${days} дн.` : `${days} days`;
}

/** The public map's pins: their look and the filters residents choose. */

/** Properties of a `/public/requests.geojson` feature. */
export interface PublicProps {
  number: string;
  status: string;
  open: boolean;
  overdue: boolean;
  deadline: string;
  timeLeftSeconds: number | null;
  registeredAt: string;
  resolvedAt: string | null;
  deadlineClass: string;
  categoryCode: string;
  categoryName: string;
  categoryNameEn: string;
  organization: string | null;
  address: string;
}

export interface PublicFeature {
  type: "Feature";
  id?: string;
  geometry: { type: "Point"; coordinates: [number, number] };
  properties: PublicProps;
}

export interface PublicCollection {
  type: "FeatureCollection";
  features: PublicFeature[];
}

/** Colour per status; overdue wins over the status. */
export const STATUS_COLOURS: Record<string, string> = {
  REGISTERED: "#6b7280",
  DISPATCHED: "#2563eb",
  IN_PROGRESS: "#d97706",
  OVERDUE: "#dc2626",
  RESOLVED: "#16a34a",
  CLOSED: "#15803d",
  CANCELLED: "#9ca3af",
};

export interface PinStyle {
  color: string;
  fillColor: string;
  radius: number;
  weight: number;
  fillOpacity: number;
}

/** How a pin is drawn: overdue pins are red, larger and ringed. */
export function pinStyle(p: PublicProps): PinStyle {
  const fill = p.overdue ? STATUS_COLOURS.OVERDUE : (STATUS_COLOURS[p.status] ?? "#6b7280");
  return {
    color: p.overdue ? "#7f1d1d" : "#1f2937",
    fillColor: fill,
    radius: p.overdue ? 9 : p.open ? 7 : 5,
    weight: p.overdue ? 3 : 1,
    fillOpacity: p.open ? 0.9 : 0.55,
  };
}

export interface MapFilter {
  category: string;
  /** `open`, `overdue`, `closed` or `all`. */
  status: string;
}

/** Whether a pin passes the resident's filters. */
export function passes(p: PublicProps, f: MapFilter): boolean {
  if (f.category && p.categoryCode !== f.category) return false;
  switch (f.status) {
    case "open":
      return p.open;
    case "overdue":
      return p.overdue;
    case "closed":
      return !p.open;
    default:
      return true;
  }
}

/** Time left for a pin at `now`, counted from its deadline (the feed's figure ages between polls). */
export function secondsLeft(p: PublicProps, now: number): number | null {
  if (!p.open) return null;
  return Math.round((Date.parse(p.deadline) - now) / 1000);
}

/** Distinct categories among the pins, for the filter list, by name. */
export function categoriesOf(features: PublicFeature[], lang: "ru" | "en"): Array<{ code: string; name: string }> {
  const seen = new Map<string, string>();
  for (const f of features) {
    const p = f.properties;
    if (!seen.has(p.categoryCode)) seen.set(p.categoryCode, lang === "ru" ? p.categoryName : p.categoryNameEn);
  }
  return [...seen]
    .map(([code, name]) => ({ code, name }))
    .sort((a, b) => a.name.localeCompare(b.name, lang));
}

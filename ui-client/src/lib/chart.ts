/** The supervisor's charts: compliance bars per organization against the target, and the weekly trend line. */

export interface PerformanceLike {
  organization: { id: string; name: string; subordination: string };
  total: { compliance: number | null; onTime: number; late: number; openOverdue: number };
}

export interface Bar {
  id: string;
  name: string;
  subordination: string;
  /** 0–100, or null with nothing due in the period. */
  percent: number | null;
  below: boolean;
  counted: number;
}

/** Bars worst first; organizations with nothing due go last. */
export function complianceBars(rows: PerformanceLike[], target: number): Bar[] {
  return rows
    .map((r) => {
      const c = r.total.compliance;
      return {
        id: r.organization.id,
        name: r.organization.name,
        subordination: r.organization.subordination,
        percent: c == null ? null : Math.round(c * 1000) / 10,
        below: c != null && c < target,
        counted: r.total.onTime + r.total.late + r.total.openOverdue,
      };
    })
    .sort((a, b) => {
      if (a.percent == null || b.percent == null) return a.percent == null ? (b.percent == null ? 0 : 1) : -1;
      return a.percent - b.percent || a.name.localeCompare(b.name);
    });
}

/** One point of a weekly trend: its label and the share, or null with nothing due that week. */
export interface TrendPoint {
  label: string;
  value: number | null;
}

/** A line chart's geometry in SVG user units: nothing here knows about the DOM. */
export interface TrendChart {
  width: number;
  height: number;
  /** The plot area inside the margins. */
  plot: { left: number; right: number; top: number; bottom: number };
  /** One `d` per run of weeks with figures: a week with nothing due breaks the line. */
  paths: string[];
  dots: Array<{ x: number; y: number; value: number; label: string; below: boolean }>;
  /** The target's height (dashed line). */
  targetY: number;
  /** Horizontal grid lines: 0, 50 and 100 %. */
  yTicks: Array<{ y: number; label: string }>;
  /** Week labels under the x axis (thinned so they never overlap). */
  xTicks: Array<{ x: number; label: string }>;
}

/**
 * The weekly trend of one organization: x by week, y from 0 to 100 %,
 * the target as a level. Labels are thinned to about one per 48 units.
 */
export function trendChart(points: TrendPoint[], target: number, width = 640, height = 150): TrendChart {
  const plot = { left: 40, right: width - 22, top: 10, bottom: height - 24 };
  const n = points.length;
  const x = (i: number) => (n <= 1 ? (plot.left + plot.right) / 2 : plot.left + ((plot.right - plot.left) * i) / (n - 1));
  const y = (v: number) => plot.bottom - (plot.bottom - plot.top) * Math.max(0, Math.min(1, v));
  const r = (v: number) => Math.round(v * 10) / 10;
  const paths: string[] = [];
  let run: string[] = [];
  const dots: TrendChart["dots"] = [];
  points.forEach((p, i) => {
    if (p.value == null) {
      if (run.length > 1) paths.push(run.join(" "));
      run = [];
      return;
    }
    run.push(`${run.length === 0 ? "M" : "L"}${r(x(i))},${r(y(p.value))}`);
    dots.push({ x: r(x(i)), y: r(y(p.value)), value: p.value, label: p.label, below: p.value < target });
  });
  if (run.length > 1) paths.push(run.join(" "));
  const every = Math.max(1, Math.ceil((n * 48) / Math.max(1, plot.right - plot.left)));
  return {
    width,
    height,
    plot,
    paths,
    dots,
    targetY: r(y(target)),
    yTicks: [0, 0.5, 1].map((v) => ({ y: r(y(v)), label: `${v * 100}%` })),
    xTicks: points.map((p, i) => ({ x: r(x(i)), label: p.label })).filter((_, i) => (n - 1 - i) % every === 0),
  };
}

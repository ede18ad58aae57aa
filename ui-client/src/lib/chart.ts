/** The supervisor's compliance chart: one bar per organization against the target. */

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

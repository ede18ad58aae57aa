import { describe, expect, it } from "vitest";
import {
  addDays,
  analysisPeriod,
  cityDateOf,
  cityInstant,
  cityYesterday,
  durationHours,
  everyWeek,
  formatShare,
  fromCityLocal,
  mondayOf,
  sumTallies,
  toCityLocal,
} from "../src/lib/compliance";
import { trendChart } from "../src/lib/chart";

describe("city time", () => {
  it("reads the city date, not the browser's", () => {
    // 22:30 UTC is 01:30 the next day in the city (UTC+3).
    expect(cityDateOf(Date.parse("2026-11-29T22:30:00Z"))).toBe("2026-11-30");
    expect(cityDateOf(Date.parse("2026-11-29T20:59:00Z"))).toBe("2026-11-29");
  });
  it("finds the instant of a city wall-clock time", () => {
    expect(new Date(cityInstant("2026-11-30")).toISOString()).toBe("2026-11-29T21:00:00.000Z");
    expect(new Date(cityInstant("2026-11-30", "08:00")).toISOString()).toBe("2026-11-30T05:00:00.000Z");
  });
  it("turns datetime-local values into instants and back", () => {
    expect(fromCityLocal("2026-11-30T13:45")).toBe("2026-11-30T10:45:00.000Z");
    expect(toCityLocal(Date.parse("2026-11-30T10:45:59Z"))).toBe("2026-11-30T13:45");
    expect(toCityLocal(Date.parse("2026-11-30T21:05:00Z"))).toBe("2026-12-01T00:05");
    expect(fromCityLocal("")).toBeNull();
  });
  it("yesterday is the city's, whatever the hour in UTC", () => {
    expect(cityYesterday(Date.parse("2026-11-30T22:00:00Z"))).toBe("2026-11-30");
    expect(cityYesterday(Date.parse("2026-11-30T20:00:00Z"))).toBe("2026-11-29");
  });
  it("counts days and finds Mondays across months and years", () => {
    expect(addDays("2026-12-30", 3)).toBe("2027-01-02");
    expect(mondayOf("2026-11-30")).toBe("2026-11-30");
    expect(mondayOf("2026-11-29")).toBe("2026-11-23");
    expect(mondayOf("2027-01-03")).toBe("2026-12-28");
  });
});

describe("analysis period", () => {
  it("is whole city weeks from a Monday at city midnight up to now", () => {
    const now = Date.parse("2026-11-30T10:00:00Z");
    const p = analysisPeriod(now, 8);
    expect(p.weekStarts).toEqual(["2026-10-12", "2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]);
    expect(p.from).toBe("2026-10-11T21:00:00.000Z");
    expect(p.to).toBe("2026-11-30T10:00:00.000Z");
  });
  it("fills the weeks the API left out as having nothing due", () => {
    const t = { onTime: 1, late: 1, openOverdue: 0, compliance: 0.5 };
    const weeks = everyWeek({ weeks: [{ weekStart: "2026-11-23", compliance: t }] }, ["2026-11-16", "2026-11-23"]);
    expect(weeks.map((w) => [w.weekStart, w.compliance.compliance])).toEqual([
      ["2026-11-16", null],
      ["2026-11-23", 0.5],
    ]);
  });
});

describe("figures", () => {
  it("writes shares in the reader's notation", () => {
    expect(formatShare(0.875, "ru")).toBe("87,5 %");
    expect(formatShare(0.875, "en")).toBe("87.5%");
    expect(formatShare(1, "ru")).toBe("100 %");
    expect(formatShare(null, "ru")).toBe("—");
  });
  it("sums figures and recomputes compliance", () => {
    const s = sumTallies([
      { onTime: 3, late: 1, openOverdue: 0, compliance: 0.75 },
      { onTime: 0, late: 0, openOverdue: 4, compliance: 0 },
    ]);
    expect(s).toEqual({ onTime: 3, late: 1, openOverdue: 4, compliance: 3 / 8 });
    expect(sumTallies([]).compliance).toBeNull();
  });
});

describe("trend chart", () => {
  const points = [
    { label: "a", value: 1 },
    { label: "b", value: 0.5 },
    { label: "c", value: null },
    { label: "d", value: 0 },
    { label: "e", value: 0.95 },
  ];
  const c = trendChart(points, 0.9, 640, 150);
  it("breaks the line at a week with nothing due", () => {
    expect(c.paths).toHaveLength(2);
    expect(c.paths[0].startsWith("M")).toBe(true);
    expect(c.dots.map((d) => d.label)).toEqual(["a", "b", "d", "e"]);
  });
  it("puts 100 % at the top, 0 % at the bottom and the target between", () => {
    const [top, , bottom] = [c.dots[0].y, c.dots[1].y, c.dots[2].y];
    expect(top).toBe(c.plot.top);
    expect(bottom).toBe(c.plot.bottom);
    expect(c.targetY).toBeGreaterThan(top);
    expect(c.targetY).toBeLessThan(c.dots[1].y);
  });
  it("marks weeks below the target", () => {
    expect(c.dots.map((d) => d.below)).toEqual([false, true, true, false]);
  });
  it("keeps the newest week's label and thins the rest", () => {
    const many = trendChart(Array.from({ length: 30 }, (_, i) => ({ label: String(i), value: 0.5 })), 0.9, 300, 150);
    expect(many.xTicks.at(-1)?.label).toBe("29");
    expect(many.xTicks.length).toBeLessThan(30);
  });
});

describe("durations", () => {
  it("reads the API's ISO durations as hours", () => {
    expect(durationHours("PT5H30M", "ru")).toBe("5,5");
    expect(durationHours("P2DT1H", "en")).toBe("49");
    expect(durationHours(null, "en")).toBe("—");
  });
});

import { describe, expect, it } from "vitest";
import { categoriesOf, passes, pinStyle, secondsLeft, STATUS_COLOURS, type PublicFeature, type PublicProps } from "../src/lib/geo";
import { complianceBars } from "../src/lib/chart";
import { decodeClaims, expired, homeOf } from "../src/lib/session";
import { missingKeys, translate } from "../src/lib/i18n";

const props = (patch: Partial<PublicProps> = {}): PublicProps => ({
  number: "2026-000001",
  status: "DISPATCHED",
  open: true,
  overdue: false,
  deadline: "2026-11-29T12:00:00Z",
  timeLeftSeconds: 3600,
  registeredAt: "2026-11-29T06:00:00Z",
  resolvedAt: null,
  deadlineClass: "EMERGENCY",
  categoryCode: "power-outage",
  categoryName: "Нет света",
  categoryNameEn: "No power",
  organization: "Горэлектросеть",
  address: "ул. Мира, 1",
  ...patch,
});
const feature = (p: PublicProps): PublicFeature => ({
  type: "Feature",
  geometry: { type: "Point", coordinates: [38.05, 48.3] },
  properties: p,
});

describe("pins", () => {
  it("colours by status and marks overdue pins red, larger and ringed", () => {
    expect(pinStyle(props()).fillColor).toBe(STATUS_COLOURS.DISPATCHED);
    const o = pinStyle(props({ status: "IN_PROGRESS", overdue: true }));
    expect(o.fillColor).toBe(STATUS_COLOURS.OVERDUE);
    expect(o.radius).toBeGreaterThan(pinStyle(props()).radius);
    expect(o.weight).toBeGreaterThan(1);
  });
  it("filters by category and status", () => {
    const open = props();
    const late = props({ overdue: true, status: "OVERDUE" });
    const done = props({ open: false, status: "RESOLVED", categoryCode: "no-water" });
    expect([open, late, done].filter((p) => passes(p, { category: "", status: "open" }))).toEqual([open, late]);
    expect([open, late, done].filter((p) => passes(p, { category: "", status: "overdue" }))).toEqual([late]);
    expect([open, late, done].filter((p) => passes(p, { category: "", status: "closed" }))).toEqual([done]);
    expect([open, late, done].filter((p) => passes(p, { category: "no-water", status: "all" }))).toEqual([done]);
  });
  it("counts time left from the deadline, none once finished", () => {
    expect(secondsLeft(props(), Date.parse("2026-11-29T11:00:00Z"))).toBe(3600);
    expect(secondsLeft(props(), Date.parse("2026-11-29T12:30:00Z"))).toBe(-1800);
    expect(secondsLeft(props({ open: false }), 0)).toBeNull();
  });
  it("lists each category once, by name", () => {
    const fs = [props(), props(), props({ categoryCode: "a", categoryName: "Авария", categoryNameEn: "Zeta" })].map(feature);
    expect(categoriesOf(fs, "ru").map((c) => c.code)).toEqual(["a", "power-outage"]);
    expect(categoriesOf(fs, "en").map((c) => c.code)).toEqual(["power-outage", "a"]);
  });
});

describe("compliance bars", () => {
  it("puts the worst first, marks those below target, and the empty last", () => {
    const perf = (id: string, compliance: number | null, onTime = 1) => ({
      organization: { id, name: id, subordination: "CITY" },
      total: { compliance, onTime, late: 1, openOverdue: 0 },
    });
    const bars = complianceBars([perf("a", 0.95), perf("b", null, 0), perf("c", 0.5)], 0.9);
    expect(bars.map((b) => [b.id, b.percent, b.below])).toEqual([
      ["c", 50, true],
      ["a", 95, false],
      ["b", null, false],
    ]);
  });
});

describe("session", () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  it("reads the claims of a token and the page of its role", () => {
    const token = `${b64({ alg: "HS256" })}.${b64({ sub: "оператор-1", role: "OPERATOR", exp: 10 })}.sig`;
    const c = decodeClaims(token)!;
    expect(c.sub).toBe("оператор-1");
    expect(homeOf(c.role)).toBe("#/operator");
    expect(expired(c, 10_000)).toBe(true);
    expect(expired(c, 9_999)).toBe(false);
    expect(homeOf("CONTRACTOR")).toBe("#/contractor");
    expect(homeOf("ADMIN")).toBe("#/supervisor");
  });
  it("refuses what is not a token", () => {
    for (const bad of ["", "a.b", "a.b.c", `x.${Buffer.from("{}").toString("base64url")}.y`]) expect(decodeClaims(bad)).toBeNull();
  });
});

describe("translations", () => {
  it("has every message in both languages", () => expect(missingKeys()).toEqual([]));
  it("is Russian by default and shows a missing key as itself", () => {
    expect(translate("ru", "op.submit")).toBe("Зарегистрировать");
    expect(translate("en", "op.submit")).toBe("Register");
    expect(translate("en", "no.such")).toBe("no.such");
  });
});

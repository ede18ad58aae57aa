import { describe, expect, it } from "vitest";
import { formatDateTime, formatLeft, formatWindow, parseIsoDuration, urgency } from "../src/lib/time";

describe("formatLeft", () => {
  it("shows hours, minutes and seconds under a day", () => {
    expect(formatLeft((5 * 3600 + 3 * 60 + 12) * 1000, "ru")).toBe("05:03:12");
    expect(formatLeft(999, "ru")).toBe("00:00:00");
  });
  it("shows days and hours beyond a day", () => {
    expect(formatLeft((2 * 86400 + 4 * 3600 + 59 * 60) * 1000, "ru")).toBe("2 д 04 ч");
    expect(formatLeft((7 * 86400) * 1000, "en")).toBe("7 d 00 h");
  });
  it("marks overdue time with a minus", () => {
    expect(formatLeft(-(3600 + 20 * 60) * 1000, "en")).toBe("−01:20:00");
    expect(formatLeft(-3 * 86400 * 1000, "ru")).toBe("−3 д 00 ч");
  });
});

describe("urgency", () => {
  const reg = "2026-11-29T00:00:00Z";
  const dl = "2026-11-29T06:00:00Z";
  const at = (h: number) => Date.parse(reg) + h * 3600_000;
  it("is ok before 75 % of the window", () => expect(urgency(reg, dl, at(4.4), false)).toBe("ok"));
  it("warns from 75 % of the window, as the server's WARNING step", () => {
    expect(urgency(reg, dl, at(4.5), false)).toBe("warning");
    expect(urgency(reg, dl, at(5.99), false)).toBe("warning");
  });
  it("is overdue from the deadline on", () => expect(urgency(reg, dl, at(6), false)).toBe("overdue"));
  it("is done once finished, whatever the clock", () => expect(urgency(reg, dl, at(100), true)).toBe("done"));
});

describe("parseIsoDuration", () => {
  it("reads the API's durations", () => {
    expect(parseIsoDuration("PT6H")).toBe(21600);
    expect(parseIsoDuration("-PT1H20M5S")).toBe(-4805);
    expect(parseIsoDuration("P7D")).toBe(604800);
    expect(parseIsoDuration("P1DT2H")).toBe(93600);
  });
  it("refuses what is not one", () => {
    for (const bad of ["", "P", "PT", "6H", "PT6X", "abc"]) expect(parseIsoDuration(bad)).toBeNull();
  });
});

describe("city time", () => {
  it("shows moments in Moscow time", () => {
    expect(formatDateTime("2026-11-29T18:40:00Z", "ru")).toContain("21:40");
    expect(formatDateTime("2026-11-29T22:10:00Z", "en")).toContain("30/11/2026");
  });
  it("names windows in words", () => {
    expect(formatWindow(6 * 3600, "ru")).toBe("6 ч");
    expect(formatWindow(72 * 3600, "en")).toBe("3 days");
    expect(formatWindow(7 * 86400, "ru")).toBe("7 дн.");
  });
});

import { describe, expect, it } from "vitest";
import { applyToOverdue, applyToQueue, pushEscalation, sortByTimeLeft, type RequestEventItem, type RequestRow } from "../src/lib/board";

const row = (n: number, patch: Partial<RequestRow> = {}): RequestRow => ({
  id: `id${n}`,
  number: `2026-${String(n).padStart(6, "0")}`,
  status: "DISPATCHED",
  version: 1,
  deadline: `2026-11-29T${String(10 + n).padStart(2, "0")}:00:00Z`,
  registeredAt: "2026-11-29T04:00:00Z",
  deadlineClass: "EMERGENCY",
  description: "",
  escalation: null,
  address: { label: "ул. Мира, 1" },
  category: null,
  organization: { id: "ORG", name: "Org" },
  ...patch,
});
const ev = (r: RequestRow, kind = "ACCEPTED", seq = 1): RequestEventItem => ({
  seq,
  kind,
  at: "2026-11-29T05:00:00Z",
  note: null,
  actor: "x",
  status: r.status,
  request: r,
});

describe("sortByTimeLeft", () => {
  it("puts the least time left first and finished ones last", () => {
    const rows = [row(3), row(1, { status: "RESOLVED" }), row(2)];
    expect(sortByTimeLeft(rows).map((r) => r.id)).toEqual(["id2", "id3", "id1"]);
  });
});

describe("applyToQueue", () => {
  it("adds a request that arrives, replaces a newer version, keeps the order", () => {
    let q = [row(2)];
    q = applyToQueue(q, ev(row(1)), "ORG");
    expect(q.map((r) => r.id)).toEqual(["id1", "id2"]);
    q = applyToQueue(q, ev(row(1, { version: 2, status: "IN_PROGRESS" })), "ORG");
    expect(q[0].status).toBe("IN_PROGRESS");
  });
  it("ignores an older version arriving late", () => {
    const q = [row(1, { version: 3, status: "IN_PROGRESS" })];
    expect(applyToQueue(q, ev(row(1, { version: 2 })), "ORG")).toBe(q);
  });
  it("drops requests resolved or sent elsewhere", () => {
    const q = [row(1), row(2)];
    expect(applyToQueue(q, ev(row(1, { version: 2, status: "RESOLVED" })), "ORG").map((r) => r.id)).toEqual(["id2"]);
    expect(
      applyToQueue(q, ev(row(2, { version: 2, organization: { id: "OTHER", name: "O" } })), "ORG").map((r) => r.id),
    ).toEqual(["id1"]);
  });
  it("does not add another organization's request", () => {
    expect(applyToQueue([], ev(row(1, { organization: { id: "OTHER", name: "O" } })), "ORG")).toEqual([]);
  });
});

describe("escalation feed and overdue list", () => {
  it("keeps escalation steps only, newest first, once each, capped", () => {
    let f: RequestEventItem[] = [];
    f = pushEscalation(f, ev(row(1), "ACCEPTED"));
    expect(f).toEqual([]);
    f = pushEscalation(f, ev(row(1), "WARNING", 2));
    f = pushEscalation(f, ev(row(1), "WARNING", 2));
    f = pushEscalation(f, ev(row(2), "ESCALATED", 5));
    expect(f.map((e) => e.kind)).toEqual(["ESCALATED", "WARNING"]);
    for (let i = 0; i < 60; i++) f = pushEscalation(f, ev(row(3), "OVERDUE", 10 + i), 50);
    expect(f).toHaveLength(50);
  });
  it("lists overdue requests until they are resolved", () => {
    let o: RequestRow[] = [];
    o = applyToOverdue(o, ev(row(1, { status: "OVERDUE", version: 2 }), "OVERDUE"));
    expect(o.map((r) => r.id)).toEqual(["id1"]);
    o = applyToOverdue(o, ev(row(1, { status: "RESOLVED", version: 3 }), "RESOLVED"));
    expect(o).toEqual([]);
  });
});

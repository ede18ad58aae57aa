import { describe, expect, it } from "vitest";
import { emptyCard, matchCategories, moveSelection, normalizePhone, toInput, validateCard } from "../src/lib/card";

describe("normalizePhone", () => {
  it("takes numbers as people type them, like the server", () => {
    expect(normalizePhone("8 (856) 412-34-56")).toBe("+78564123456");
    expect(normalizePhone("+7 856 4123456")).toBe("+78564123456");
    expect(normalizePhone("8564123456")).toBe("+8564123456");
    expect(normalizePhone("+81 3 1234 5678")).toBe("+81312345678");
  });
  it("refuses letters and wrong lengths", () => {
    expect(normalizePhone("12345")).toBeNull();
    expect(normalizePhone("+7 856 CALL-ME")).toBeNull();
    expect(normalizePhone("1234567890123456")).toBeNull();
  });
});

describe("validateCard", () => {
  const good = { ...emptyCard(), addressId: "g001-001", categoryCode: "power-outage", description: "Нет света" };
  it("accepts a complete card", () => expect(validateCard(good)).toEqual({}));
  it("names every missing field", () => {
    expect(Object.keys(validateCard(emptyCard())).sort()).toEqual(["address", "category", "description"]);
  });
  it("needs a phone for a call back and a reason for an emergency", () => {
    expect(validateCard({ ...good, consent: true }).phone).toBe("err.phoneForCallback");
    expect(validateCard({ ...good, phone: "12" }).phone).toBe("err.phone");
    expect(validateCard({ ...good, raise: true }).emergencyReason).toBe("err.emergencyReason");
  });
  it("builds the mutation input with the normalized phone", () => {
    const input = toInput({ ...good, phone: "8 856 412 34 56", name: " Иванова ", consent: true }, "cap/x-1");
    expect(input).toMatchObject({
      addressId: "g001-001",
      applicant: { name: "Иванова", phone: "+78564123456", callbackConsent: true },
      incidentId: "cap/x-1",
      raiseToEmergency: null,
    });
    expect(toInput(good, null).applicant).toBeNull();
  });
});

describe("moveSelection", () => {
  it("wraps around both ways", () => {
    expect(moveSelection(-1, 3, "ArrowDown")).toBe(0);
    expect(moveSelection(2, 3, "ArrowDown")).toBe(0);
    expect(moveSelection(0, 3, "ArrowUp")).toBe(2);
    expect(moveSelection(-1, 3, "ArrowUp")).toBe(2);
  });
  it("stays inside a shrunk list and is empty with no rows", () => {
    expect(moveSelection(5, 3, "x")).toBe(2);
    expect(moveSelection(0, 0, "ArrowDown")).toBe(-1);
  });
});

describe("matchCategories", () => {
  const cats = [
    { code: "power-outage", group: "Электроснабжение", nameRu: "Нет света в доме", nameEn: "No power in the building" },
    { code: "street-light", group: "Освещение", nameRu: "Не горит фонарь", nameEn: "Street light out" },
    { code: "water-leak", group: "Водоснабжение", nameRu: "Течь трубы", nameEn: "Water pipe leak" },
    { code: "no-water", group: "Водоснабжение", nameRu: "Нет воды", nameEn: "No water" },
  ];
  it("puts names starting with the word first", () => {
    expect(matchCategories(cats, "нет").map((c) => c.code)).toEqual(["no-water", "power-outage"]);
  });
  it("needs every word and folds ё", () => {
    expect(matchCategories(cats, "нет вод").map((c) => c.code)).toEqual(["no-water"]);
    expect(matchCategories(cats, "свёт").map((c) => c.code)).toEqual(["power-outage"]);
  });
  it("finds by English name and group, and by nothing gives all", () => {
    expect(matchCategories(cats, "leak").map((c) => c.code)).toEqual(["water-leak"]);
    expect(matchCategories(cats, "освещ").map((c) => c.code)).toEqual(["street-light"]);
    expect(matchCategories(cats, "  ")).toHaveLength(4);
    expect(matchCategories(cats, "газ")).toEqual([]);
  });
});

describe("matchCategories with citizens' words", () => {
  const cats = [
    { code: "roof-leak", group: "Жилищное хозяйство", nameRu: "Протекает кровля", nameEn: "Roof leak", keywords: ["крыша", "кровля", "протечка", "течёт крыша", "течёт с потолка", "потолок"] },
    { code: "manhole-cover-missing", group: "Водоснабжение", nameRu: "Открытый люк (нет крышки)", nameEn: "Open manhole (cover missing)", keywords: ["люк", "крышка люка"] },
    { code: "sparking-wires", group: "Электроснабжение", nameRu: "Искрят или оборваны электропровода", nameEn: "Sparking or broken power lines", keywords: ["провод", "искры"] },
    { code: "no-cold-water", group: "Водоснабжение", nameRu: "Нет холодной воды", nameEn: "No cold water", keywords: ["вода", "нет воды"] },
  ];
  const codes = (q: string) => matchCategories(cats, q).map((c) => c.code);
  it("finds a category by the words callers use", () => {
    expect(codes("крыша")[0]).toBe("roof-leak");
    expect(codes("протечка")).toEqual(["roof-leak"]);
    expect(codes("течёт крыша")).toEqual(["roof-leak"]);
    expect(codes("на крыше")).toEqual([]);
    expect(codes("крыше")[0]).toBe("roof-leak");
  });
  it("ranks the roof above the manhole cover for «крыш»", () => {
    expect(codes("крыш")[0]).toBe("roof-leak");
  });
  it("never matches inside a word: «вода» is not in «электропровода»", () => {
    expect(codes("вода")).toEqual(["no-cold-water"]);
  });
  it("gives nothing for words no category has", () => {
    expect(codes("жираф")).toEqual([]);
  });
});

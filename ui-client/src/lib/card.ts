/** The operator's card: phone rules, validation and the keyboard-driven pickers. */

/** Normalizes a phone as the server does; null when it is not one. */
export function normalizePhone(s: string): string | null {
  if (![...s].every((c) => /[0-9 +\-()]/.test(c))) return null;
  let digits = s.replace(/\D/g, "");
  if (digits.length < 10 || digits.length > 15) return null;
  // A leading 8 with eleven digits is the domestic form of +7; after a `+` it is a country code.
  const domestic = !s.trimStart().startsWith("+");
  if (domestic && digits.length === 11 && digits.startsWith("8")) digits = "7" + digits.slice(1);
  return "+" + digits;
}

export interface CardDraft {
  phone: string;
  name: string;
  consent: boolean;
  addressId: string | null;
  categoryCode: string | null;
  description: string;
  emergencyReason: string;
  raise: boolean;
}

/** An empty card. */
export function emptyCard(): CardDraft {
  return {
    phone: "",
    name: "",
    consent: false,
    addressId: null,
    categoryCode: null,
    description: "",
    emergencyReason: "",
    raise: false,
  };
}

/** Field → message key of what is wrong; empty when the card may be registered. */
export function validateCard(c: CardDraft): Record<string, string> {
  const errors: Record<string, string> = {};
  if (c.phone.trim() && !normalizePhone(c.phone)) errors.phone = "err.phone";
  if (c.consent && !c.phone.trim()) errors.phone = "err.phoneForCallback";
  if (!c.addressId) errors.address = "err.address";
  if (!c.categoryCode) errors.category = "err.category";
  if (!c.description.trim()) errors.description = "err.description";
  if (c.description.length > 4000) errors.description = "err.tooLong";
  if (c.raise && !c.emergencyReason.trim()) errors.emergencyReason = "err.emergencyReason";
  return errors;
}

/** The GraphQL input of a valid card. */
export function toInput(c: CardDraft, incidentId: string | null) {
  const phone = c.phone.trim() ? normalizePhone(c.phone) : null;
  const applicant =
    phone || c.name.trim() ? { name: c.name.trim() || null, phone, callbackConsent: c.consent && !!phone } : null;
  return {
    addressId: c.addressId,
    categoryCode: c.categoryCode,
    description: c.description.trim(),
    channel: "PHONE",
    applicant,
    incidentId,
    raiseToEmergency: c.raise ? c.emergencyReason.trim() : null,
  };
}

/** The highlighted row after a key press in a picker list of `length` rows (-1: none). */
export function moveSelection(index: number, length: number, key: string): number {
  if (length === 0) return -1;
  switch (key) {
    case "ArrowDown":
      return index < 0 ? 0 : (index + 1) % length;
    case "ArrowUp":
      return index <= 0 ? length - 1 : index - 1;
    case "Home":
      return 0;
    case "End":
      return length - 1;
    default:
      return Math.min(index, length - 1);
  }
}

export interface CategoryLike {
  code: string;
  group: string;
  nameRu: string;
  nameEn: string;
}

const fold = (s: string) => s.toLowerCase().replace(/ё/g, "е");

/**
 * Categories matching every typed word, best first: a word that starts the name
 * ranks above one that starts a later word, which ranks above one inside a word.
 */
export function matchCategories<T extends CategoryLike>(all: T[], query: string, limit = 8): T[] {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return all.slice(0, limit);
  const scored: Array<[number, T]> = [];
  for (const c of all) {
    const hay = fold(`${c.nameRu} ${c.nameEn} ${c.group} ${c.code}`);
    const tokens = hay.split(/[\s,.()/-]+/);
    let score = 0;
    let ok = true;
    for (const w of words) {
      if (fold(c.nameRu).startsWith(w) || fold(c.nameEn).startsWith(w)) score += 3;
      else if (tokens.some((t) => t.startsWith(w))) score += 2;
      else if (hay.includes(w)) score += 1;
      else {
        ok = false;
        break;
      }
    }
    if (ok) scored.push([score, c]);
  }
  scored.sort((a, b) => b[0] - a[0] || a[1].nameRu.localeCompare(b[1].nameRu, "ru"));
  return scored.slice(0, limit).map(([, c]) => c);
}

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
  /** An address the registry does not have: the caller's words and the district. */
  freeAddress: { text: string; district: string } | null;
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
    freeAddress: null,
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
  if (c.freeAddress) {
    if (c.freeAddress.text.trim().length < 3) errors.freeText = "err.freeText";
    if (!c.freeAddress.district) errors.district = "err.district";
  } else if (!c.addressId) errors.address = "err.address";
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
    addressId: c.freeAddress ? null : c.addressId,
    freeAddress: c.freeAddress ? { text: c.freeAddress.text.trim(), district: c.freeAddress.district } : null,
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
  /** Citizens' own words for it. */
  keywords?: string[];
}

const fold = (s: string) => s.toLowerCase().replace(/ё/g, "е");
const words = (s: string) => fold(s).split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/**
 * How well a typed word `w` names `token`: 3 to 4 when the token starts with
 * it (4 when it is the whole token), 2 to 3 when they share a stem (Russian endings differ: «крыше» and «крыша»,
 * «течет» and «течь»), else 0. Never a match inside a word: «вода» is not in
 * «электропровода».
 */
function wordScore(w: string, token: string): number {
  if (token.startsWith(w)) return 3 + w.length / token.length;
  let common = 0;
  while (common < w.length && common < token.length && w[common] === token[common]) common++;
  const longer = Math.max(w.length, token.length);
  return common >= 3 && common >= longer - 2 ? 2 + common / longer : 0;
}

/**
 * Categories whose name or keywords name every typed word, best first: a
 * match at the start of the name ranks highest, then by how well each word
 * matched. Nothing matching gives an empty list (the picker says so).
 */
export function matchCategories<T extends CategoryLike>(all: T[], query: string, limit = 8): T[] {
  const typed = words(query);
  if (typed.length === 0) return all.slice(0, limit);
  const scored: Array<[number, T]> = [];
  for (const c of all) {
    const names = [...words(c.nameRu), ...words(c.nameEn)];
    const keywords = (c.keywords ?? []).flatMap(words);
    const tokens = [...names, ...keywords, ...words(c.group)];
    const phrase = (c.keywords ?? []).map(fold);
    let score = 0;
    let ok = true;
    for (const w of typed) {
      const best = Math.max(0, ...tokens.map((t) => wordScore(w, t)));
      if (best === 0) {
        ok = false;
        break;
      }
      score += best;
    }
    if (!ok) continue;
    if (fold(c.nameRu).startsWith(typed[0]) || fold(c.nameEn).startsWith(typed[0])) score += 4;
    // A whole keyword phrase typed («течёт крыша») is the citizen's own words for it.
    if (phrase.includes(typed.join(" "))) score += 4;
    scored.push([score, c]);
  }
  scored.sort((a, b) => b[0] - a[0] || a[1].nameRu.localeCompare(b[1].nameRu, "ru"));
  return scored.slice(0, limit).map(([, c]) => c);
}

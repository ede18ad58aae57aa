/** The token pasted at login, kept in the browser, and what it claims. */

const KEY = "kontakt.token";

export interface Claims {
  sub: string;
  role: string;
  org?: string | null;
  exp?: number;
}

/** The payload of a JWT, unverified (the server verifies; this only picks the page). */
export function decodeClaims(token: string): Claims | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    const v = JSON.parse(json);
    return typeof v?.sub === "string" && typeof v?.role === "string" ? v : null;
  } catch {
    return null;
  }
}

/** True when the token's `exp` has passed at `now` (ms). */
export function expired(c: Claims, now: number): boolean {
  return typeof c.exp === "number" && c.exp * 1000 <= now;
}

/** The page a role lands on. */
export function homeOf(role: string): string {
  switch (role.toUpperCase()) {
    case "OPERATOR":
      return "#/operator";
    case "CONTRACTOR":
      return "#/contractor";
    case "SUPERVISOR":
    case "ADMIN":
      return "#/supervisor";
    default:
      return "#/map";
  }
}

export const loadToken = (): string | null => localStorage.getItem(KEY);
export const saveToken = (t: string) => localStorage.setItem(KEY, t.trim());
export const clearToken = () => localStorage.removeItem(KEY);

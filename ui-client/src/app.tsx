/** The session every page shares: language, token and who the token belongs to. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Lang } from "./lib/i18n";

export interface Me {
  role: string;
  subject: string;
  organization: { id: string; name: string } | null;
  extension?: string | null;
}

/** A call the PBX reported ringing at this console's extension. */
export interface IncomingCall {
  callerId: string;
  phone: string | null;
  extension: string;
  at: string;
  /** Distinguishes two calls from one number. */
  seq: number;
}

export interface Session {
  lang: Lang;
  t: (key: string) => string;
  setLang: (l: Lang) => void;
  token: string | null;
  me: Me | null;
  login: (token: string) => Promise<void>;
  logout: () => void;
  /** The last call that rang at this console, for the caller's panel. */
  incoming: IncomingCall | null;
}

export const SessionContext = createContext<Session | null>(null);

/** The current session (inside the app). */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside the app");
  return s;
}

/** Every error the pages show, in the reader's language: the code decides the words, never the server's text. */
import type { ApiError } from "./api";
import { fill } from "./i18n";

type T = (key: string) => string;

/** The sentence for an API error; the server's own text stays in the console for support. */
export function errorText(e: unknown, t: T): string {
  const err = e as Partial<ApiError>;
  const code = typeof err?.code === "string" ? err.code : "INTERNAL";
  if (err?.message) console.warn(`[${code}] ${err.message}`);
  const key = "err.code." + code;
  const template = t(key);
  if (template === key) return fill(t("err.code.other"), { code });
  const status = typeof err.params?.status === "string" ? t("status." + err.params.status) : "";
  return fill(template, { status, code });
}

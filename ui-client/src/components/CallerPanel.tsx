import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { BriefList } from "./BriefList";
import { ApiError, gql } from "../lib/api";
import { normalizePhone } from "../lib/card";
import { errorText } from "../lib/errors";
import { BRIEF, type Brief } from "../lib/requests";

const BY_PHONE = `query($phone: String!, $from: DateTime!, $lang: String!) {
  requests(filter: { phone: $phone, registeredFrom: $from }, first: 20) { edges { node { ${BRIEF} } } }
}`;

/** What the caller already has: the phone's requests of the last year, newest first, before the card is filled. */
export function CallerPanel(p: { phone: string }) {
  const { t, lang, token } = useSession();
  const [rows, setRows] = useState<Brief[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const digits = p.phone.replace(/\D/g, "");
  // A local number (6–7 digits) is read in the city's code by the server; a full one must be a phone.
  const ready = digits.length >= 6 && (digits.length <= 7 || normalizePhone(p.phone) !== null);

  useEffect(() => {
    if (!ready) {
      setRows(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      const from = new Date(Date.now() - 365 * 86400_000).toISOString();
      gql<{ requests: { edges: Array<{ node: Brief }> } }>(BY_PHONE, { phone: p.phone, from, lang }, token)
        .then((d) => {
          if (!live) return;
          setError(null);
          setRows(d.requests.edges.map((e) => e.node));
        })
        .catch((e: ApiError) => live && setError(errorText(e, t)));
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [p.phone, ready, lang]);

  return (
    <section class="card caller" data-testid="caller" aria-live="polite">
      <h2>{t("caller.title")}</h2>
      {error && <p class="error">{error}</p>}
      {!ready ? (
        <p class="muted">{t("caller.typing")}</p>
      ) : rows === null ? (
        <p class="muted">…</p>
      ) : rows.length === 0 ? (
        <p class="muted" data-testid="caller-none">
          {t("caller.none")}
        </p>
      ) : (
        <BriefList rows={rows} testid="caller-requests" />
      )}
    </section>
  );
}

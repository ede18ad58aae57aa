import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../app";
import { BriefList } from "../components/BriefList";
import { ApiError, gql } from "../lib/api";
import { errorText } from "../lib/errors";
import { fill, plural } from "../lib/i18n";
import { BRIEF, mergeNewestFirst, readSearch, type Brief } from "../lib/requests";

type Edges = { edges: Array<{ node: Brief }> };
const BY_FILTER = `query($filter: RequestFilter!, $lang: String!) { requests(filter: $filter, first: 30) { edges { node { ${BRIEF} } } } }`;
const BY_NUMBER = `query($n: String!, $lang: String!) { request(number: $n) { ${BRIEF} } }`;

/** Find a request by number, phone, address or words of the description; a result opens the request's page. */
export function Search(p: { query: string }) {
  const { t, lang, token } = useSession();
  const [text, setText] = useState(p.query);
  // The query the box last took from the address: what a caller is typing is
  // kept until the address brings another query.
  const shown = useRef(p.query);
  const [rows, setRows] = useState<Brief[] | null>(null);
  const [how, setHow] = useState("");
  const [error, setError] = useState<string | null>(null);

  const run = async (q: string) => {
    const s = readSearch(q);
    setError(null);
    if (!s) return setRows(null);
    try {
      if (s.kind === "number") {
        const d = await gql<{ request: Brief | null }>(BY_NUMBER, { n: s.number, lang }, token);
        setHow(t("search.byNumber"));
        if (d.request) {
          // A number opens its request at once; Back returns to where the search started.
          location.replace(`#/request/${d.request.id}`);
          return;
        }
        setRows(d.request ? [d.request] : []);
      } else if (s.kind === "phone") {
        const d = await gql<{ requests: Edges }>(BY_FILTER, { filter: { phone: s.phone }, lang }, token);
        setHow(t("search.byPhone"));
        setRows(d.requests.edges.map((e) => e.node));
      } else {
        const [byAddress, byWords] = await Promise.all([
          gql<{ requests: Edges }>(BY_FILTER, { filter: { text: s.text }, lang }, token),
          gql<{ requests: Edges }>(BY_FILTER, { filter: { words: s.text }, lang }, token),
        ]);
        const a = byAddress.requests.edges.map((e) => e.node);
        const w = byWords.requests.edges.map((e) => e.node);
        setHow([a.length ? t("search.byAddress") : "", w.length ? t("search.byWords") : ""].filter(Boolean).join(", "));
        setRows(mergeNewestFirst(a, w));
      }
    } catch (e) {
      setError(errorText(e as ApiError, t));
    }
  };

  useEffect(() => {
    if (shown.current !== p.query) {
      shown.current = p.query;
      setText(p.query);
    }
    run(p.query);
  }, [p.query, lang]);

  return (
    <section class="card search">
      <h1>{t("search.title")}</h1>
      <form
        class="inline"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const q = text.trim();
          if (`#/search?q=${encodeURIComponent(q)}` === location.hash) run(q);
          else location.hash = `#/search?q=${encodeURIComponent(q)}`;
        }}
      >
        <label for="search-q" class="visually-hidden">
          {t("search.label")}
        </label>
        <input
          id="search-q"
          name="q"
          type="search"
          autoFocus
          placeholder={t("search.placeholder")}
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        <button type="submit">{t("search.submit")}</button>
      </form>
      <p class="muted small">{t("search.label")}</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {rows !== null &&
        (rows.length === 0 ? (
          <p class="muted" data-testid="search-none">
            {t("search.none")}
          </p>
        ) : (
          <>
            <p class="muted" data-testid="search-count">
              {fill(t("search.found"), { n: rows.length, plural: plural(lang, rows.length, t("plural.requests")) })}
              {how && ` · ${how}`}
            </p>
            <BriefList rows={rows} testid="search-results" />
          </>
        ))}
    </section>
  );
}

import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { useNow } from "../components/Countdown";
import { ApiError, gql } from "../lib/api";
import { errorText } from "../lib/errors";
import { fill } from "../lib/i18n";
import { formatDateTime } from "../lib/time";

const WORKLIST = `query($lang: String!) {
  callbackWorklist(first: 50, lang: $lang) {
    reason script phone callableFrom
    callback { id status attempts outcome }
    request { id number status address { label } category { name(lang: $lang) } organization { name(lang: $lang) } }
  }
}`;
const RECORD = `mutation($task: ID!, $outcome: CallbackOutcome!, $note: String) {
  recordCallbackOutcome(taskId: $task, outcome: $outcome, note: $note) { id number status }
}`;

interface Item {
  reason: string;
  script: string;
  phone: string | null;
  callableFrom: string;
  callback: { id: string; status: string; attempts: number; outcome: string | null };
  request: {
    id: string;
    number: string;
    status: string;
    address: { label: string };
    category: { name: string } | null;
    organization: { name: string } | null;
  };
}

const OUTCOMES = ["CONFIRMED", "NOT_FIXED", "NO_ANSWER", "WRONG_NUMBER"];

/** The callbacks no dialer made, for operators to call by hand and record. */
export function Worklist() {
  const { t, lang, token } = useSession();
  const [items, setItems] = useState<Item[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const now = useNow(30_000);

  const load = () =>
    gql<{ callbackWorklist: Item[] }>(WORKLIST, { lang }, token)
      .then((d) => setItems(d.callbackWorklist))
      .catch((e: ApiError) => setError(errorText(e, t)));
  useEffect(() => {
    load();
    const timer = setInterval(load, 60_000);
    return () => clearInterval(timer);
  }, [lang]);

  const record = async (item: Item, outcome: string, note: string) => {
    setError(null);
    try {
      await gql(RECORD, { task: item.callback.id, outcome, note: note.trim() || null }, token);
      setNotice(fill(t("wl.recorded"), { number: item.request.number }));
      await load();
    } catch (e) {
      setError(errorText(e, t));
      load();
    }
  };

  return (
    <section class="card worklist">
      <h1>{t("wl.title")}</h1>
      <p class="muted">{t("wl.hint")}</p>
      {notice && (
        <p class="notice" role="status" data-testid="notice">
          {notice}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items === null ? (
        <p class="muted">…</p>
      ) : items.length === 0 ? (
        <p class="muted" data-testid="worklist-empty">
          {t("wl.empty")}
        </p>
      ) : (
        <ul class="work-items" data-testid="worklist">
          {items.map((i) => (
            <WorkItem key={i.callback.id} item={i} now={now} onRecord={record} />
          ))}
        </ul>
      )}
    </section>
  );
}

function WorkItem(p: { item: Item; now: number; onRecord: (i: Item, outcome: string, note: string) => Promise<void> }) {
  const { t, lang } = useSession();
  const i = p.item;
  const [outcome, setOutcome] = useState("CONFIRMED");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  // The API says when calling hours allow the call; a few seconds either way do not matter to a person.
  const waits = Date.parse(i.callableFrom) > Math.max(p.now, Date.now()) + 60_000;
  const id = i.callback.id.replace(/[^A-Za-z0-9]/g, "-");
  return (
    <li class="work-item" data-number={i.request.number}>
      <div class="work-head">
        <a href={`#/request/${i.request.id}`}>
          <strong>{i.request.number}</strong>
        </a>{" "}
        · {i.request.category?.name} · {i.request.address.label}
        <span class="muted"> · {t("status." + i.request.status)}</span>
      </div>
      <div class="work-phone">
        <strong data-testid="wl-phone">{i.phone ?? "—"}</strong> ·{" "}
        <span class={waits ? "warn" : "ok"} data-testid="wl-when">
          {waits ? `${t("wl.callableFrom")} ${formatDateTime(i.callableFrom, lang)}` : t("wl.callNow")}
        </span>
      </div>
      <div class="muted small">
        {t("wl.why")}: {i.reason}
      </div>
      <blockquote class="script" data-testid="wl-script">
        {i.script}
      </blockquote>
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          await p.onRecord(i, outcome, note);
          setBusy(false);
        }}
      >
        <label for={`outcome-${id}`} class="visually-hidden">
          {t("rq.outcome")}
        </label>
        <select id={`outcome-${id}`} name="outcome" value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
          {OUTCOMES.map((o) => (
            <option value={o}>{t("outcome." + o)}</option>
          ))}
        </select>
        <label for={`note-${id}`} class="visually-hidden">
          {t("rq.note")}
        </label>
        <input id={`note-${id}`} name="note" placeholder={t("rq.note")} value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={busy || waits}>
          {t("wl.record")}
        </button>
      </form>
    </li>
  );
}

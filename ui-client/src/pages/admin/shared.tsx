/**
 * What every tab of the administration shares: loading a query, a form's
 * fields with their messages, the history of one record (who changed what,
 * when, from what to what), inline confirmation and tables that scroll on a
 * phone. Each tab keeps its draft while a save is refused, so nothing the
 * admin typed is lost and nothing on the server changed.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useSession } from "../../app";
import { gql } from "../../lib/api";
import { errorText } from "../../lib/errors";
import { fill } from "../../lib/i18n";
import { formatDateTime } from "../../lib/time";

export type T = (key: string) => string;

/** A value read from the API, with its error and a way to read it again. */
export function useQuery<D>(query: string, variables: Record<string, unknown>, deps: unknown[] = []) {
  const { t, token } = useSession();
  const [data, setData] = useState<D | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    gql<D>(query, variables, token)
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((e) => setError(adminError(e, t)));
  useEffect(() => {
    load();
  }, deps);
  return { data, error, reload: load };
}

/** A message the page says after an action (or an error in words). */
export function Said(p: { notice?: string | null; error?: string | null; testid?: string }) {
  return (
    <>
      {p.notice && (
        <p class="notice" role="status" data-testid={p.testid ? p.testid + "-notice" : "notice"}>
          {p.notice}
        </p>
      )}
      {p.error && (
        <p class="error" role="alert" data-testid={p.testid ? p.testid + "-error" : "error"}>
          {p.error}
        </p>
      )}
    </>
  );
}

/** Problems of a draft by field name; empty when it may be sent. */
export type Problems = Record<string, string>;

/** One labelled field with its message, tied together for screen readers. */
export function Field(p: {
  id: string;
  label: string;
  problem?: string;
  hint?: string;
  wide?: boolean;
  children: (aria: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => ComponentChildren;
}) {
  const described = [p.problem ? p.id + "-problem" : "", p.hint ? p.id + "-hint" : ""].filter(Boolean).join(" ");
  return (
    <div class={"field" + (p.problem ? " invalid" : "") + (p.wide ? " adm-wide" : "")}>
      <label for={p.id}>{p.label}</label>
      {p.children({ id: p.id, "aria-invalid": !!p.problem, "aria-describedby": described || undefined })}
      {p.hint && (
        <span class="muted small" id={p.id + "-hint"}>
          {p.hint}
        </span>
      )}
      {p.problem && (
        <span class="error" id={p.id + "-problem"} data-testid="problem">
          {p.problem}
        </span>
      )}
    </div>
  );
}

/** The text of an input's event. */
export const valueOf = (e: Event) => (e.target as HTMLInputElement).value;

/** A wide table that scrolls sideways on a narrow screen instead of breaking the page. */
export function Scroll(p: { label: string; children: ComponentChildren }) {
  return (
    <div class="adm-scroll" role="region" aria-label={p.label} tabIndex={0}>
      {p.children}
    </div>
  );
}

/** The second ask of a destructive action: the question, yes (busy while it runs) and no. */
export function ConfirmBox(p: { question: string; yes: string; onYes: () => Promise<void>; onNo: () => void; testid: string }) {
  const { t } = useSession();
  const [busy, setBusy] = useState(false);
  return (
    <div class="adm-confirm" role="alertdialog" aria-label={p.question} data-testid={p.testid + "-confirm"}>
      <span>{p.question}</span>
      <span class="adm-buttons">
        <button
          type="button"
          class="danger"
          disabled={busy}
          autoFocus
          data-testid={p.testid + "-yes"}
          onClick={async () => {
            setBusy(true);
            try {
              await p.onYes();
            } finally {
              setBusy(false);
            }
          }}
        >
          {p.yes}
        </button>
        <button type="button" class="secondary" disabled={busy} onClick={p.onNo}>
          {t("adm.no")}
        </button>
      </span>
    </div>
  );
}

/** One change of reference data as the API gives it. */
export interface Change {
  seq: number | null;
  at: string;
  actor: string;
  actorRole: string | null;
  change: string;
  kind: string | null;
  key: string | null;
  fields: Array<{ field: string; before: string | null; after: string | null }>;
}

export const CHANGE_FIELDS = `seq at actor actorRole change kind key fields { field before after }`;
const HISTORY = `query($kind: ReferenceKind!, $key: ID!) { referenceHistory(kind: $kind, key: $key) { ${CHANGE_FIELDS} } }`;

/** The separator of a routing rule's key: `category␟district`. */
const UNIT = "\u001f";

/** A record's key in words: a routing rule's becomes "category · district" (or the whole city). */
export function keyLabel(t: T, kind: string | null, key: string | null): string {
  if (key === null) return "";
  if (kind === "ROUTING_RULE" && key.includes(UNIT)) {
    const [category, district] = key.split(UNIT);
    return `${category} · ${district || t("adm.routing.city")}`;
  }
  if (kind === "DELIVERY" && key === "administration") return t("adm.org.administration");
  return key;
}

/** A stored field's name in words, or the name itself for one without words. */
export function fieldLabel(t: T, field: string): string {
  const key = "adm.field." + field;
  const word = t(key);
  return word === key ? field : word;
}

/** One item of a stored list: a record's values in order (a material: «асфальтобетон т 0.8»). */
function itemText(item: unknown): string {
  if (item !== null && typeof item === "object") return Object.values(item).map(String).join(" ");
  return String(item);
}

/** A stored value as read: lists joined, nothing as a dash. */
export function valueText(v: string | null): string {
  if (v === null || v === "") return "—";
  if (v.startsWith("[")) {
    try {
      const list = JSON.parse(v);
      if (Array.isArray(list)) return list.length ? list.map(itemText).join("; ") : "—";
    } catch {
      /* shown as stored */
    }
  }
  return v;
}

/** Changes newest or oldest first, each: when, who (role), what, and every field before → after. */
export function ChangeList(p: { changes: Change[]; showRecord: boolean; testid: string }) {
  const { t, lang } = useSession();
  if (p.changes.length === 0)
    return (
      <p class="muted" data-testid={p.testid + "-none"}>
        {t("adm.history.none")}
      </p>
    );
  return (
    <ol class="adm-changes" data-testid={p.testid}>
      {p.changes.map((c) => (
        <li data-seq={c.seq ?? ""} data-actor={c.actor} data-change={c.change} data-kind={c.kind ?? ""}>
          <div>
            <time dateTime={c.at}>{formatDateTime(c.at, lang)}</time> ·{" "}
            <strong data-testid="actor">{c.actor === "system" ? t("role.SYSTEM") : c.actor}</strong>
            {c.actorRole && <span class="muted"> ({t("role." + c.actorRole)})</span>} ·{" "}
            <span data-testid="change">{t("adm.change." + c.change)}</span>
            {p.showRecord && c.kind && (
              <>
                {" "}
                · <span class="class-tag adm-kind">{t("adm.kind." + c.kind)}</span>{" "}
                <code data-testid="record">{keyLabel(t, c.kind, c.key)}</code>
              </>
            )}
          </div>
          {c.fields.length > 0 && (
            <ul class="adm-fields">
              {c.fields.map((f) => (
                <li data-field={f.field} data-testid="field-change">
                  <span class="muted">{fieldLabel(t, f.field)}:</span>{" "}
                  <span class={f.before === null ? "adm-none" : "adm-before"} data-testid="before">
                    {valueText(f.before)}
                  </span>{" "}
                  → <span class={f.after === null ? "adm-none" : "adm-after"} data-testid="after">{valueText(f.after)}</span>
                </li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ol>
  );
}

/** One record's changes, oldest first, read when shown. */
export function HistoryPanel(p: { kind: string; recordKey: string; id?: string }) {
  const { t, token } = useSession();
  const [changes, setChanges] = useState<Change[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    gql<{ referenceHistory: Change[] }>(HISTORY, { kind: p.kind, key: p.recordKey }, token)
      .then((d) => setChanges(d.referenceHistory))
      .catch((e) => setError(adminError(e, t)));
  }, [p.kind, p.recordKey]);
  return (
    <div id={p.id} class="adm-history" data-testid="history-panel" data-kind={p.kind} data-key={p.recordKey}>
      <h3>{t("adm.history.title")}</h3>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : changes === null ? (
        <p class="muted">…</p>
      ) : (
        <ChangeList changes={changes} showRecord={false} testid="history-list" />
      )}
    </div>
  );
}

/** A button that opens and closes a panel (edit form, history), saying which state it is in. */
export function Toggle(p: { open: boolean; onClick: () => void; label: string; of: string; testid: string; controls?: string }) {
  return (
    <button
      type="button"
      class="link"
      aria-expanded={p.open}
      aria-controls={p.open ? p.controls : undefined}
      aria-label={`${p.label}: ${p.of}`}
      data-testid={p.testid}
      onClick={p.onClick}
    >
      {p.label}
    </button>
  );
}

/** Which panel of a row is open, one at a time. */
export function usePanel<K extends string>() {
  const [open, setOpen] = useState<{ row: string; panel: K } | null>(null);
  const is = (row: string, panel: K) => open?.row === row && open.panel === panel;
  const toggle = (row: string, panel: K) => setOpen(is(row, panel) ? null : { row, panel });
  const of = (row: string): K | null => (open?.row === row ? open.panel : null);
  return { is, toggle, of, close: () => setOpen(null) };
}

/** Reference codes: lower-case letters, digits, `-` and `_`, at most 40 (as the server's `Code`). */
export const CODE = /^[a-z0-9_-]{1,40}$/;

/** The problem of a required text of at most `max` characters, or nothing. */
export function textProblem(t: T, v: string, max: number): string | undefined {
  const n = [...v.trim()].length;
  if (n === 0) return t("err.required");
  if (n > max) return fill(t("adm.err.tooLong"), { n: max });
  return undefined;
}

/** Moves the focus to a form's first field with a problem, once it is drawn. */
export function focusInvalid(form: EventTarget | null) {
  const f = form as HTMLFormElement | null;
  requestAnimationFrame(() => f?.querySelector<HTMLElement>("[aria-invalid=true]")?.focus());
}

/** Drops the fields without a problem. */
export function only(problems: Record<string, string | undefined>): Problems {
  return Object.fromEntries(Object.entries(problems).filter(([, v]) => v)) as Problems;
}

/**
 * An API error in the administration's words: a code may have its own
 * sentence here (`adm.err.code.CONFLICT` speaks of a record, not a request),
 * or per form (`words`: code → message key); otherwise the app's.
 */
export function adminError(e: unknown, t: T, words: Record<string, string> = {}): string {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string") {
    const key = words[code] ?? "adm.err.code." + code;
    if (t(key) !== key) {
      const message = (e as { message?: unknown }).message;
      if (typeof message === "string") console.warn(`[${code}] ${message}`);
      return t(key);
    }
  }
  return errorText(e, t);
}

/** A form's save: disabled while it runs, the server's refusal in words, the draft kept on error. */
export function useSave(words: Record<string, string> = {}) {
  const { t } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (send: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await send();
    } catch (e) {
      setError(adminError(e, t, words));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/** The save and cancel buttons of a form, and the server's refusal above them. */
export function FormEnd(p: { busy: boolean; error: string | null; save: string; onCancel?: () => void; testid: string }) {
  const { t } = useSession();
  return (
    <>
      {p.error && (
        <p class="error" role="alert" data-testid={p.testid + "-error"}>
          {p.error}
        </p>
      )}
      <div class="adm-buttons">
        <button type="submit" disabled={p.busy} data-testid={p.testid + "-save"}>
          {p.busy ? t("adm.saving") : p.save}
        </button>
        {p.onCancel && (
          <button type="button" class="secondary" disabled={p.busy} onClick={p.onCancel}>
            {t("rq.cancelForm")}
          </button>
        )}
      </div>
    </>
  );
}

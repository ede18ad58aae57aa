/**
 * One appeal: its letter (editable while a draft), the figures it cites, the
 * attached list of late requests (each number opens the request), the
 * sending with the outgoing number, a withdrawal with its reason, its
 * history, and the Word document.
 *
 * Every change names the version the page shows; when someone else changed
 * the appeal meanwhile the server answers CONFLICT and the page says so,
 * offers the current version, and keeps what was typed so nothing is lost.
 */
import { useEffect, useState } from "preact/hooks";
import { useSession } from "../../app";
import { type ApiError, download, gql } from "../../lib/api";
import { formatShare } from "../../lib/compliance";
import { errorText } from "../../lib/errors";
import { fill, plural } from "../../lib/i18n";
import { formatDateTime } from "../../lib/time";
import { adminError, ConfirmBox, Field, focusInvalid, only, type Problems, Said, Scroll, type T, valueOf } from "../admin/shared";
import { periodText, StatusText } from "./common";

const FIELDS = `id organization { id name(lang: $lang) } periodFrom periodTo status subject body version
  createdAt createdBy sentAt sentBy outgoingNumber withdrawnAt withdrawnBy withdrawalReason
  figures { onTime late openOverdue compliance target }
  lateRequests { number categoryCode category { name(lang: $lang) } deadline resolvedAt status }
  history { kind at actor actorRole note }
  docxUrl`;

const LOAD = `query($id: ID!, $lang: String!) { appeal(id: $id) { ${FIELDS} } }`;
const EDIT = `mutation($id: ID!, $v: Int!, $subject: String!, $body: String!, $lang: String!) {
  appeal: editAppeal(id: $id, expectedVersion: $v, subject: $subject, body: $body) { ${FIELDS} } }`;
const SEND = `mutation($id: ID!, $v: Int!, $number: String!, $lang: String!) {
  appeal: markAppealSent(id: $id, expectedVersion: $v, outgoingNumber: $number) { ${FIELDS} } }`;
const WITHDRAW = `mutation($id: ID!, $v: Int!, $reason: String!, $lang: String!) {
  appeal: withdrawAppeal(id: $id, expectedVersion: $v, reason: $reason) { ${FIELDS} } }`;

/** The server's limits on an appeal's texts (`workflow/src/appeals.rs`). */
const SUBJECT = { min: 3, max: 300 };
const BODY = { min: 20, max: 20000 };
const NUMBER_MAX = 50;
const REASON_MIN = 10;

interface Appeal {
  id: string;
  organization: { id: string; name: string } | null;
  periodFrom: string;
  periodTo: string;
  status: "DRAFT" | "SENT" | "WITHDRAWN";
  subject: string;
  body: string;
  version: number;
  createdAt: string;
  createdBy: string;
  sentAt: string | null;
  sentBy: string | null;
  outgoingNumber: string | null;
  withdrawnAt: string | null;
  withdrawnBy: string | null;
  withdrawalReason: string | null;
  figures: { onTime: number; late: number; openOverdue: number; compliance: number; target: number };
  lateRequests: Array<{
    number: string;
    categoryCode: string;
    category: { name: string } | null;
    deadline: string;
    resolvedAt: string | null;
    status: string;
  }>;
  history: Array<{ kind: string; at: string; actor: string; actorRole: string | null; note: string | null }>;
  docxUrl: string;
}

/** What the server's CONFLICT means here. */
const WORDS = { CONFLICT: "ap.err.conflict" };

/** The appeal `id`, loaded when shown; `onChanged` after each change, for the list. */
export function AppealPanel(p: { id: string; onChanged: () => void }) {
  const { t, lang, token } = useSession();
  const [a, setA] = useState<Appeal | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  const [unsaved, setUnsaved] = useState<{ subject: string; body: string } | null>(null);
  const [action, setAction] = useState<"send" | "withdraw" | null>(null);

  const load = () =>
    gql<{ appeal: Appeal | null }>(LOAD, { id: p.id, lang }, token)
      .then((d) => {
        setA(d.appeal);
        setError(null);
        setConflict(false);
      })
      .catch((e: ApiError) => setError(errorText(e, t)));
  useEffect(() => {
    load();
  }, [p.id, lang]);

  /** Runs a change; its answer replaces the appeal, a CONFLICT offers the current version. */
  const change = async (query: string, vars: Record<string, unknown>, done: string, typed?: { subject: string; body: string }) => {
    if (!a) return;
    setNotice(null);
    setError(null);
    try {
      const d = await gql<{ appeal: Appeal }>(query, { id: a.id, v: a.version, lang, ...vars }, token);
      setA(d.appeal);
      setNotice(done);
      setUnsaved(null);
      setAction(null);
      p.onChanged();
    } catch (e) {
      const err = e as ApiError;
      if (err.code === "CONFLICT") {
        setConflict(true);
        if (typed) setUnsaved(typed);
      }
      setError(adminError(err, t, WORDS));
      throw e;
    }
  };

  if (a === undefined)
    return error ? (
      <p class="error" role="alert">
        {error}
      </p>
    ) : (
      <p class="muted">…</p>
    );
  if (a === null)
    return (
      <p class="muted" data-testid="appeal-missing">
        {t("ap.missing")} <a href="#/appeals">{t("ap.backToList")}</a>
      </p>
    );

  const f = a.figures;
  const lateCount = a.lateRequests.length;
  const fileName = `appeal-${(a.outgoingNumber ?? a.id).replace(/[^\p{L}\p{N}_-]+/gu, "-")}.docx`;
  return (
    <div data-appeal={a.id} data-status={a.status} data-version={a.version}>
      <p class="ap-close">
        <a href="#/appeals">{t("ap.close")}</a>
      </p>
      <h2 id="ap-panel-h" data-testid="appeal-subject">
        {a.subject}
      </h2>
      <p>
        <strong data-testid="appeal-org">{a.organization?.name ?? "—"}</strong> · <StatusText a={a} />
      </p>
      <p class="small muted">
        {fill(t("ap.period"), { period: periodText(a.periodFrom, a.periodTo, lang) })} ·{" "}
        {fill(t("ap.drafted"), { at: formatDateTime(a.createdAt, lang), by: a.createdBy })}
        {a.sentAt && ` · ${fill(t("ap.sentBy"), { at: formatDateTime(a.sentAt, lang), by: a.sentBy ?? "—", number: a.outgoingNumber ?? "—" })}`}
      </p>
      {a.status === "WITHDRAWN" && (
        <p class="warn-box" data-testid="withdrawn">
          {fill(t("ap.withdrawnBy"), { at: a.withdrawnAt ? formatDateTime(a.withdrawnAt, lang) : "—", by: a.withdrawnBy ?? "—" })}{" "}
          <q>{a.withdrawalReason}</q>
        </p>
      )}
      <Said notice={notice} error={error} />
      {conflict && (
        <p class="ap-conflict" data-testid="conflict">
          <button type="button" class="secondary" onClick={load} data-testid="reload">
            {t("ap.reload")}
          </button>
        </p>
      )}
      {unsaved && (
        <details class="ap-unsaved" open data-testid="unsaved">
          <summary>{t("ap.unsaved")}</summary>
          <p class="small muted">{t("ap.unsavedHint")}</p>
          <pre class="appeal">
            {unsaved.subject}
            {"\n\n"}
            {unsaved.body}
          </pre>
        </details>
      )}

      <div class="adm-buttons">
        <button
          type="button"
          class="secondary"
          data-testid="download"
          onClick={() => download(a.docxUrl, token ?? "", fileName).catch((e: ApiError) => setError(errorText(e, t)))}
        >
          {t("ap.download")}
        </button>
        {a.status === "DRAFT" && (
          <button type="button" class={action === "send" ? "" : "secondary"} aria-expanded={action === "send"} onClick={() => setAction(action === "send" ? null : "send")} data-testid="send">
            {t("ap.send")}
          </button>
        )}
        {a.status !== "WITHDRAWN" && (
          <button
            type="button"
            class="secondary danger"
            aria-expanded={action === "withdraw"}
            onClick={() => setAction(action === "withdraw" ? null : "withdraw")}
            data-testid="withdraw"
          >
            {t("ap.withdraw")}
          </button>
        )}
      </div>
      {action === "send" && a.status === "DRAFT" && (
        <SendForm onCancel={() => setAction(null)} onSend={(number) => change(SEND, { number }, fill(t("ap.sentNotice"), { number }))} />
      )}
      {action === "withdraw" && a.status !== "WITHDRAWN" && (
        <WithdrawForm onCancel={() => setAction(null)} onWithdraw={(reason) => change(WITHDRAW, { reason }, t("ap.withdrawnNotice"))} />
      )}

      <h3>{t("ap.figures")}</h3>
      <dl class="pl-totals ap-figures" data-testid="figures">
        <div>
          <dt>{t("ap.fig.onTime")}</dt>
          <dd data-testid="fig-on-time">{f.onTime}</dd>
        </div>
        <div>
          <dt>{t("ap.fig.late")}</dt>
          <dd data-testid="fig-late">{f.late}</dd>
        </div>
        <div>
          <dt>{t("ap.fig.openOverdue")}</dt>
          <dd data-testid="fig-open-overdue">{f.openOverdue}</dd>
        </div>
        <div>
          <dt>{t("ap.fig.compliance")}</dt>
          <dd class={f.compliance < f.target ? "bad" : "ok"}>
            {formatShare(f.compliance, lang)} <span class="small muted">{fill(t("ap.fig.against"), { target: formatShare(f.target, lang) })}</span>
          </dd>
        </div>
      </dl>

      {a.status === "DRAFT" ? (
        <LetterForm key={`${a.id}:${a.version}`} appeal={a} onSave={(subject, body) => change(EDIT, { subject, body }, t("ap.saved"), { subject, body })} />
      ) : (
        <>
          <h3>{t("ap.letter")}</h3>
          <pre class="appeal" data-testid="appeal-body">
            {a.body}
          </pre>
        </>
      )}

      <h3 id="ap-late-h">{t("ap.late")}</h3>
      <p data-testid="late-count" data-count={lateCount}>
        {fill(t("ap.lateCount"), { n: lateCount, plural: plural(lang, lateCount, t("plural.requests")), late: f.late, open: f.openOverdue })}
      </p>
      {lateCount > 0 && (
        <Scroll label={fill(t("pl.tableOf"), { what: t("ap.late") })}>
          <table class="adm-table pl-cards ap-late" data-testid="late-requests" aria-labelledby="ap-late-h">
            <thead>
              <tr>
                <th scope="col">{t("ap.lr.number")}</th>
                <th scope="col">{t("ap.lr.category")}</th>
                <th scope="col">{t("ap.lr.deadline")}</th>
                <th scope="col">{t("ap.lr.resolved")}</th>
                <th scope="col">{t("ap.lr.status")}</th>
              </tr>
            </thead>
            {a.lateRequests.map((r) => (
              <tbody data-number={r.number}>
                <tr>
                  <td data-label={t("ap.lr.number")}>
                    <a href={`#/search?q=${encodeURIComponent(r.number)}`} data-testid="late-number" class="adm-nowrap">
                      {r.number}
                    </a>
                  </td>
                  <td data-label={t("ap.lr.category")}>{r.category?.name ?? r.categoryCode}</td>
                  <td data-label={t("ap.lr.deadline")} class="adm-nowrap">
                    {formatDateTime(r.deadline, lang)}
                  </td>
                  <td data-label={t("ap.lr.resolved")} class="adm-nowrap">
                    {r.resolvedAt ? formatDateTime(r.resolvedAt, lang) : <span class="bad">{t("ap.lr.open")}</span>}
                  </td>
                  <td data-label={t("ap.lr.status")}>{t("status." + r.status)}</td>
                </tr>
              </tbody>
            ))}
          </table>
        </Scroll>
      )}

      <h3>{t("ap.history")}</h3>
      <ol class="timeline" data-testid="appeal-history">
        {a.history.map((e) => (
          <li data-kind={e.kind} data-actor={e.actor}>
            <time dateTime={e.at}>{formatDateTime(e.at, lang)}</time> <strong>{t("ap.ev." + e.kind)}</strong>
            <span class="muted">
              {" "}
              · {e.actor}
              {e.actorRole && ` (${t("role." + e.actorRole)})`}
            </span>
            {e.note && <div class="note">{e.note}</div>}
          </li>
        ))}
      </ol>
    </div>
  );
}

function lengthProblem(t: T, v: string, min: number, max: number): string | undefined {
  const n = [...v.trim()].length;
  if (n === 0) return t("err.required");
  if (n < min || n > max) return fill(t("ap.err.length"), { min, max, n });
  return undefined;
}

/** The letter while a draft: its subject (one line) and text. */
function LetterForm(p: { appeal: Appeal; onSave: (subject: string, body: string) => Promise<void> }) {
  const { t } = useSession();
  const [subject, setSubject] = useState(p.appeal.subject);
  const [body, setBody] = useState(p.appeal.body);
  const [problems, setProblems] = useState<Problems>({});
  const [busy, setBusy] = useState(false);
  const changed = subject !== p.appeal.subject || body !== p.appeal.body;
  const submit = async (e: Event) => {
    e.preventDefault();
    const found = only({
      subject: /[\r\n]/.test(subject) ? t("ap.err.oneLine") : lengthProblem(t, subject, SUBJECT.min, SUBJECT.max),
      body: lengthProblem(t, body, BODY.min, BODY.max),
    });
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    setBusy(true);
    try {
      await p.onSave(subject.trim(), body.trim());
    } catch {
      /* said by the panel; what was typed stays */
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="adm-form ap-letter" onSubmit={submit} noValidate data-testid="letter-form">
      <h3>{t("ap.letterDraft")}</h3>
      <fieldset disabled={busy}>
        <Field id="ap-subject" label={t("ap.subject")} problem={problems.subject}>
          {(a) => <input {...a} name="subject" value={subject} onInput={(e) => setSubject(valueOf(e))} />}
        </Field>
        <Field id="ap-body" label={t("ap.body")} problem={problems.body} hint={t("ap.bodyHint")}>
          {(a) => <textarea {...a} name="body" rows={10} value={body} onInput={(e) => setBody(valueOf(e))} />}
        </Field>
        <div class="adm-buttons">
          <button type="submit" disabled={busy || !changed} data-testid="save-letter">
            {busy ? t("adm.saving") : t("ap.saveLetter")}
          </button>
          {changed && (
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setSubject(p.appeal.subject);
                setBody(p.appeal.body);
                setProblems({});
              }}
            >
              {t("ap.undo")}
            </button>
          )}
        </div>
      </fieldset>
    </form>
  );
}

/** Recording the sending: the outgoing letter's number. */
function SendForm(p: { onCancel: () => void; onSend: (number: string) => Promise<void> }) {
  const { t } = useSession();
  const [number, setNumber] = useState("");
  const [problem, setProblem] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const found = lengthProblem(t, number, 1, NUMBER_MAX);
    setProblem(found);
    if (found) return focusInvalid(e.currentTarget);
    setBusy(true);
    try {
      await p.onSend(number.trim());
    } catch {
      /* said by the panel */
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="adm-form" onSubmit={submit} noValidate data-testid="send-form">
      <fieldset disabled={busy}>
        <Field id="ap-number" label={t("ap.number")} problem={problem} hint={t("ap.numberHint")}>
          {(a) => <input {...a} name="outgoingNumber" autoComplete="off" value={number} onInput={(e) => setNumber(valueOf(e))} />}
        </Field>
        <div class="adm-buttons">
          <button type="submit" data-testid="send-save">
            {busy ? t("adm.saving") : t("ap.sendSave")}
          </button>
          <button type="button" class="secondary" onClick={p.onCancel}>
            {t("rq.cancelForm")}
          </button>
        </div>
      </fieldset>
    </form>
  );
}

/** A withdrawal: the reason (at least ten characters), then a second ask. */
function WithdrawForm(p: { onCancel: () => void; onWithdraw: (reason: string) => Promise<void> }) {
  const { t } = useSession();
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<string | undefined>();
  const [asking, setAsking] = useState(false);
  const submit = (e: Event) => {
    e.preventDefault();
    const n = [...reason.trim()].length;
    const found = n < REASON_MIN ? fill(t("err.reasonShort"), { n: REASON_MIN }) : undefined;
    setProblem(found);
    if (found) return focusInvalid(e.currentTarget);
    setAsking(true);
  };
  return (
    <form class="adm-form" onSubmit={submit} noValidate data-testid="withdraw-form">
      <Field id="ap-reason" label={t("ap.reason")} problem={problem} hint={fill(t("ap.reasonHint"), { n: REASON_MIN })}>
        {(a) => <textarea {...a} name="reason" rows={3} value={reason} disabled={asking} onInput={(e) => setReason(valueOf(e))} />}
      </Field>
      {asking ? (
        <ConfirmBox
          question={t("ap.withdrawQ")}
          yes={t("ap.withdrawYes")}
          onYes={async () => {
            try {
              await p.onWithdraw(reason.trim());
            } catch {
              setAsking(false);
            }
          }}
          onNo={() => setAsking(false)}
          testid="withdraw"
        />
      ) : (
        <div class="adm-buttons">
          <button type="submit" class="danger" data-testid="withdraw-next">
            {t("ap.withdrawNext")}
          </button>
          <button type="button" class="secondary" onClick={p.onCancel}>
            {t("rq.cancelForm")}
          </button>
        </div>
      )}
    </form>
  );
}

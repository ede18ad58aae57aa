import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { Countdown, useNow } from "../components/Countdown";
import { ApiError, gql } from "../lib/api";
import { errorText } from "../lib/errors";
import { fill } from "../lib/i18n";
import { FULL, type FullRequest } from "../lib/requests";
import { formatDateTime } from "../lib/time";

const LOAD = `query($id: ID!, $lang: String!) { request(id: $id) { ${FULL} } }`;
const ORGS = `query($lang: String!) { organizations { id name(lang: $lang) } }`;
const INCIDENTS = `query { incidents(status: ACTIVE, first: 50) { edges { node { id title kind } } } }`;
const CATEGORIES = `query($lang: String!) { categories { code name(lang: $lang) deadlineClass } }`;
const ADDRESSES = `query($q: String!) { addresses(search: $q, first: 8) { id label district } }`;

/** The shortest reason a refusal or a withdrawal may give: one letter says nothing. */
export const MIN_REASON = 10;

/** Each action's mutation; every one answers with the request as the page reads it. */
const MUTATIONS: Record<string, string> = {
  ACCEPT: `mutation($id: ID!, $v: Int, $lang: String!) { r: acceptRequest(id: $id, expectedVersion: $v) { ${FULL} } }`,
  RESOLVE: `mutation($id: ID!, $v: Int, $text: String!, $note: String, $lang: String!) { r: resolveRequest(id: $id, expectedVersion: $v, resolution: $text, note: $note) { ${FULL} } }`,
  REJECT: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: rejectRequest(id: $id, expectedVersion: $v, reason: $text) { ${FULL} } }`,
  REASSIGN: `mutation($id: ID!, $v: Int, $org: ID!, $text: String!, $lang: String!) { r: reassignRequest(id: $id, expectedVersion: $v, organizationId: $org, reason: $text) { ${FULL} } }`,
  RAISE_TO_EMERGENCY: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: raiseToEmergency(id: $id, expectedVersion: $v, reason: $text) { ${FULL} } }`,
  CANCEL: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: cancelRequest(id: $id, expectedVersion: $v, reason: $text) { ${FULL} } }`,
  REOPEN: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: reopenRequest(id: $id, expectedVersion: $v, reason: $text) { ${FULL} } }`,
  CLOSE: `mutation($id: ID!, $v: Int, $note: String, $lang: String!) { r: closeRequest(id: $id, expectedVersion: $v, note: $note) { ${FULL} } }`,
  LINK_TO_INCIDENT: `mutation($id: ID!, $incident: ID!, $lang: String!) { r: linkToIncident(id: $id, incidentId: $incident) { ${FULL} } }`,
  UNLINK_FROM_INCIDENT: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: unlinkFromIncident(id: $id, expectedVersion: $v, reason: $text) { ${FULL} } }`,
  ADD_NOTE: `mutation($id: ID!, $v: Int, $text: String!, $lang: String!) { r: addNote(id: $id, expectedVersion: $v, note: $text) { ${FULL} } }`,
  CORRECT: `mutation($id: ID!, $v: Int, $input: CorrectionInput!, $text: String!, $lang: String!) { r: correctRequest(id: $id, expectedVersion: $v, input: $input, reason: $text) { ${FULL} } }`,
  ADD_APPLICANT: `mutation($id: ID!, $v: Int, $applicant: ApplicantInput!, $lang: String!) { r: addApplicant(id: $id, expectedVersion: $v, applicant: $applicant) { ${FULL} } }`,
  RECORD_CALLBACK_OUTCOME: `mutation($task: ID!, $outcome: CallbackOutcome!, $note: String, $lang: String!) { r: recordCallbackOutcome(taskId: $task, outcome: $outcome, note: $note) { ${FULL} } }`,
};

/** What each action asks for besides the request. */
const NEEDS_TEXT: Record<string, "required" | "optional" | "none"> = {
  ACCEPT: "none",
  RESOLVE: "required",
  REJECT: "required",
  REASSIGN: "required",
  RAISE_TO_EMERGENCY: "required",
  CANCEL: "required",
  REOPEN: "required",
  CLOSE: "optional",
  LINK_TO_INCIDENT: "none",
  UNLINK_FROM_INCIDENT: "required",
  ADD_NOTE: "required",
  CORRECT: "required",
  ADD_APPLICANT: "none",
  RECORD_CALLBACK_OUTCOME: "optional",
};

/** The request's page: every field, the timeline, callbacks, and the actions the role may take now. */
export function RequestPage(p: { id: string }) {
  const { t, lang, token } = useSession();
  const [r, setR] = useState<FullRequest | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [orgNames, setOrgNames] = useState<Record<string, string>>({});
  const now = useNow();

  // Dispatch events name the organization by its code: shown by its name.
  useEffect(() => {
    gql<{ organizations: Array<{ id: string; name: string }> }>(ORGS, { lang }, token)
      .then((d) => setOrgNames(Object.fromEntries(d.organizations.map((o) => [o.id, o.name]))))
      .catch(() => {});
  }, [lang]);

  const load = () =>
    gql<{ request: FullRequest | null }>(LOAD, { id: p.id, lang }, token)
      .then((d) => setR(d.request))
      .catch((e: ApiError) => {
        if (e.code === "NOT_FOUND" || e.code === "VALIDATION") setR(null);
        else setError(errorText(e, t));
      });
  useEffect(() => {
    load();
  }, [p.id, lang]);

  if (r === undefined) return <p class="muted">…</p>;
  if (r === null) {
    return (
      <section class="card">
        <p data-testid="not-found">{t("rq.notFound")}</p>
        <a href="#/search">{t("rq.back")}</a>
      </section>
    );
  }

  const done = async (action: string, vars: Record<string, unknown>) => {
    setError(null);
    setNotice(null);
    try {
      const d = await gql<{ r: FullRequest }>(MUTATIONS[action], { id: r.id, v: r.version, lang, ...vars }, token);
      setR(d.r);
      setOpen(null);
      setNotice(fill(t("rq.done"), { what: t("act." + action) }));
    } catch (e) {
      setError(errorText(e, t));
      if ((e as ApiError).code === "CONFLICT" || (e as ApiError).code === "INVALID_TRANSITION") load();
    }
  };

  const finished = !["REGISTERED", "DISPATCHED", "IN_PROGRESS", "OVERDUE"].includes(r.status);
  const left = Date.parse(r.deadline) - now;
  return (
    <div class="request-page">
      <section class="card" data-testid="request">
        <p>
          <a href="#/search">{t("rq.back")}</a>
        </p>
        <h1>
          {t("rq.title")} <span data-testid="rq-number">{r.number}</span> ·{" "}
          <span data-testid="rq-status" class={"status-tag status-" + r.status}>
            {t("status." + r.status)}
          </span>
        </h1>
        <dl class="fields">
          <dt>{t("op.category")}</dt>
          <dd data-testid="rq-category">
            {r.category?.name ?? "—"} <span class={"class-tag " + r.deadlineClass}>{t("class." + r.deadlineClass)}</span>
          </dd>
          <dt>{t("op.address")}</dt>
          <dd data-testid="rq-address">
            {r.address.label} <span class="muted">{r.address.district}</span>
            {r.addressUnconfirmed && (
              <span class="class-tag EMERGENCY" data-testid="unconfirmed">
                {t("op.unconfirmed")}
              </span>
            )}
          </dd>
          <dt>{t("op.description")}</dt>
          <dd data-testid="rq-description">{r.description}</dd>
          <dt>{t("op.organization")}</dt>
          <dd data-testid="rq-organization">{r.organization?.name ?? t("op.unrouted")}</dd>
          <dt>{t("rq.registered")}</dt>
          <dd>
            {formatDateTime(r.registeredAt, lang)} · {t("channel." + r.channel)}
          </dd>
          <dt>{t("op.deadline")}</dt>
          <dd>{formatDateTime(r.deadline, lang)}</dd>
          {!finished && (
            <>
              <dt>{left >= 0 ? t("rq.left") : t("rq.overdueBy")}</dt>
              <dd data-testid="rq-left">
                <Countdown registeredAt={r.registeredAt} deadline={r.deadline} finished={false} now={now} lang={lang} /> ·{" "}
                {t("rq.step")}: {t("rq.step." + (r.escalation ?? "none"))}
              </dd>
            </>
          )}
          {r.applicant && (
            <>
              <dt>{t("rq.applicant")}</dt>
              <dd data-testid="rq-applicant">
                {r.applicant.name ?? "—"}
                {r.applicant.phone && ` · ${r.applicant.phone}`}
                {r.applicant.callbackConsent && ` · ${t("op.consent").toLowerCase()}`}
              </dd>
            </>
          )}
          {r.coApplicants.length > 0 && (
            <>
              <dt>{t("rq.coApplicants")}</dt>
              <dd data-testid="rq-co-applicants">
                <ul class="plain">
                  {r.coApplicants.map((a) => (
                    <li>
                      {a.name ?? "—"}
                      {a.phone && ` · ${a.phone}`}
                      {a.callbackConsent && ` · ${t("op.consent").toLowerCase()}`}
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          )}
          <dt>{t("rq.incident")}</dt>
          <dd data-testid="rq-incident">{r.incident ? `${r.incident.title} (${r.incident.kind})` : t("rq.noIncident")}</dd>
          {r.resolution && (
            <>
              <dt>{t("rq.resolution")}</dt>
              <dd>
                {r.resolution}
                {r.resolvedAt && <span class="muted"> · {formatDateTime(r.resolvedAt, lang)}</span>}
              </dd>
            </>
          )}
          {r.reopened > 0 && (
            <>
              <dt>{t("rq.reopened")}</dt>
              <dd>{r.reopened}</dd>
            </>
          )}
        </dl>
      </section>

      <section class="card" aria-labelledby="script-h">
        <h2 id="script-h">{t("rq.statusScript")}</h2>
        <blockquote class="script" data-testid="status-script">
          {r.statusScript}
        </blockquote>
      </section>

      <section class="card" aria-labelledby="actions-h">
        <h2 id="actions-h">{t("rq.actions")}</h2>
        {notice && (
          <p class="notice" role="status" data-testid="notice">
            {notice}
          </p>
        )}
        {error && (
          <p class="error" role="alert" data-testid="error">
            {error}
          </p>
        )}
        {r.allowedActions.length === 0 ? (
          <p class="muted">{t("rq.noActions")}</p>
        ) : (
          <div class="action-buttons" data-testid="actions">
            {r.allowedActions.map((a) => (
              <button
                type="button"
                class={open === a ? "" : "secondary"}
                aria-expanded={open === a}
                data-action={a}
                onClick={() => (a === "ACCEPT" ? done(a, {}) : setOpen(open === a ? null : a))}
              >
                {t("act." + a)}
              </button>
            ))}
          </div>
        )}
        {open && <ActionForm key={open} action={open} request={r} onDo={done} onCancel={() => setOpen(null)} />}
      </section>

      <section class="card" aria-labelledby="timeline-h">
        <h2 id="timeline-h">{t("rq.timeline")}</h2>
        <ol class="timeline" data-testid="timeline">
          {r.history.map((e) => (
            <li data-kind={e.kind}>
              <time dateTime={e.at}>{formatDateTime(e.at, lang)}</time>{" "}
              <strong>{t("ev." + e.kind)}</strong>
              <span class="muted">
                {" "}
                · {e.actor}
                {e.actorRole && ` (${t("role." + e.actorRole)})`}
              </span>
              {e.note && <div class="note">{e.kind === "DISPATCHED" ? (orgNames[e.note] ?? e.note) : e.note}</div>}
            </li>
          ))}
        </ol>
      </section>

      <section class="card" aria-labelledby="notices-h">
        <h2 id="notices-h">{t("rq.notices")}</h2>
        {r.notifications.length === 0 ? (
          <p class="muted">{t("rq.noNotices")}</p>
        ) : (
          <ul class="callbacks" data-testid="notices">
            {r.notifications.map((n) => (
              <li data-status={n.status}>
                <strong>{t("ntf." + n.kind)}</strong> → {n.organizationId ? (orgNames[n.organizationId] ?? n.organizationId) : t("rq.administration")} ·{" "}
                {t("ntfstatus." + n.status)}
                {n.channels.length > 0 && ` (${n.channels.map((c) => t("channel." + c)).join(", ")})`}
                {n.deliveredAt && <span class="muted"> · {formatDateTime(n.deliveredAt, lang)}</span>}
                {n.failingSince && (
                  <div class="error small">
                    {t("rq.failingSince")} {formatDateTime(n.failingSince, lang)}
                    {n.lastError && ` — ${n.lastError}`}
                  </div>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="card" aria-labelledby="callbacks-h">
        <h2 id="callbacks-h">{t("rq.callbacks")}</h2>
        {r.callbacks.length === 0 ? (
          <p class="muted">{t("rq.noCallbacks")}</p>
        ) : (
          <ul class="callbacks" data-testid="callbacks">
            {r.callbacks.map((c) => (
              <li>
                <strong>{t("cbstatus." + c.status)}</strong>
                {c.outcome && ` · ${t("outcome." + c.outcome)}`} · {c.attempts}×
                <div class="muted small">{c.result}</div>
                <ul class="small">
                  {c.history.map((h) => (
                    <li>
                      {formatDateTime(h.at, lang)} · {h.kind}
                      {h.note && ` · ${h.note}`}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

interface Option {
  id: string;
  label: string;
}

/** The inputs one action needs, checked before it is sent. */
function ActionForm(p: {
  action: string;
  request: FullRequest;
  onDo: (action: string, vars: Record<string, unknown>) => Promise<void>;
  onCancel: () => void;
}) {
  const { t, lang, token } = useSession();
  const a = p.action;
  const [text, setText] = useState("");
  const [note, setNote] = useState("");
  const [choice, setChoice] = useState("");
  const [options, setOptions] = useState<Option[]>([]);
  const [cancelKind, setCancelKind] = useState("duplicate");
  const [description, setDescription] = useState(p.request.description);
  const [addressQuery, setAddressQuery] = useState("");
  const [addressId, setAddressId] = useState("");
  const [applicant, setApplicant] = useState({ name: "", phone: "", consent: false });
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (a === "REASSIGN") {
      gql<{ organizations: Array<{ id: string; name: string }> }>(ORGS, { lang }, token).then((d) =>
        setOptions(d.organizations.filter((o) => o.id !== p.request.organization?.id).map((o) => ({ id: o.id, label: o.name }))),
      );
    } else if (a === "LINK_TO_INCIDENT") {
      gql<{ incidents: { edges: Array<{ node: { id: string; title: string; kind: string } }> } }>(INCIDENTS, {}, token).then((d) =>
        setOptions(d.incidents.edges.map((e) => ({ id: e.node.id, label: `${e.node.title} (${e.node.kind})` }))),
      );
    } else if (a === "CORRECT") {
      gql<{ categories: Array<{ code: string; name: string; deadlineClass: string }> }>(CATEGORIES, { lang }, token).then((d) =>
        setOptions(d.categories.map((c) => ({ id: c.code, label: `${c.name} — ${t("class." + c.deadlineClass)}` }))),
      );
    } else if (a === "RECORD_CALLBACK_OUTCOME") {
      setChoice("CONFIRMED");
    }
  }, [a, lang]);

  const [addresses, setAddresses] = useState<Option[]>([]);
  useEffect(() => {
    if (a !== "CORRECT" || addressQuery.trim().length < 2) return setAddresses([]);
    const timer = setTimeout(
      () =>
        gql<{ addresses: Array<{ id: string; label: string; district: string }> }>(ADDRESSES, { q: addressQuery }, token).then((d) =>
          setAddresses(d.addresses.map((x) => ({ id: x.id, label: `${x.label} (${x.district})` }))),
        ),
      200,
    );
    return () => clearTimeout(timer);
  }, [addressQuery]);

  const submit = async (e: Event) => {
    e.preventDefault();
    const reason = text.trim();
    const need = NEEDS_TEXT[a];
    if (need === "required" && !reason) return setProblem(t("err.required"));
    if ((a === "REJECT" || a === "CANCEL" || a === "REOPEN") && reason.length < MIN_REASON) {
      return setProblem(fill(t("err.reasonShort"), { n: MIN_REASON }));
    }
    const vars: Record<string, unknown> = {};
    if (a === "REASSIGN" || a === "LINK_TO_INCIDENT") {
      if (!choice) return setProblem(t("err.required"));
      vars[a === "REASSIGN" ? "org" : "incident"] = choice;
    }
    if (a === "CANCEL") vars.text = `${t("rq.cancel." + cancelKind)}: ${reason}`;
    else if (a === "CLOSE" || a === "RECORD_CALLBACK_OUTCOME") vars.note = reason || null;
    else if (need !== "none") vars.text = reason;
    if (a === "RESOLVE") vars.note = note.trim() || null;
    if (a === "CORRECT") {
      const input: Record<string, string> = {};
      if (choice && choice !== p.request.category?.code) input.categoryCode = choice;
      if (addressId) input.addressId = addressId;
      if (description.trim() !== p.request.description) input.description = description.trim();
      if (Object.keys(input).length === 0) return setProblem(t("err.required"));
      vars.input = input;
    }
    if (a === "RECORD_CALLBACK_OUTCOME") {
      const task = [...p.request.callbacks].reverse().find((c) => !c.outcome);
      if (!task) return setProblem(t("rq.noCallbacks"));
      vars.task = task.id;
      vars.outcome = choice;
    }
    if (a === "ADD_APPLICANT") {
      const phone = applicant.phone.trim();
      if (!applicant.name.trim() && !phone) return setProblem(t("err.required"));
      if (phone && !/^[\d\s+\-()]{5,}$/.test(phone)) return setProblem(t("err.phone"));
      if (applicant.consent && !phone) return setProblem(t("err.phoneForCallback"));
      vars.applicant = { name: applicant.name.trim() || null, phone: phone || null, callbackConsent: applicant.consent };
    }
    if (a === "REJECT" && !confirm(fill(t("ct.rejectConfirm"), { number: p.request.number }))) return;
    setProblem(null);
    setBusy(true);
    await p.onDo(a, vars);
    setBusy(false);
  };

  const textLabel =
    a === "RESOLVE"
      ? t("ct.resolution")
      : a === "ADD_NOTE" || a === "CLOSE" || a === "RECORD_CALLBACK_OUTCOME"
        ? t("rq.note")
        : a === "CANCEL"
          ? t("rq.cancelWhy")
          : t("rq.reason");
  return (
    <form class="action-form" data-testid="action-form" data-action={a} onSubmit={submit}>
      <h3>{t("act." + a)}</h3>
      {a === "CANCEL" && (
        <fieldset class="choices">
          <legend>{t("rq.cancelWhy")}</legend>
          {["duplicate", "withdrawn", "other"].map((k) => (
            <label class="check">
              <input type="radio" name="cancelKind" value={k} checked={cancelKind === k} onChange={() => setCancelKind(k)} />
              {t("rq.cancel." + k)}
            </label>
          ))}
        </fieldset>
      )}
      {(a === "REASSIGN" || a === "LINK_TO_INCIDENT") && (
        <div class="field">
          <label for="action-choice">{a === "REASSIGN" ? t("rq.reassignTo") : t("rq.incidentId")}</label>
          <select id="action-choice" name="choice" value={choice} onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}>
            <option value="">{a === "REASSIGN" ? "—" : t("rq.pickIncident")}</option>
            {options.map((o) => (
              <option value={o.id}>{o.label}</option>
            ))}
          </select>
        </div>
      )}
      {a === "CORRECT" && (
        <>
          <div class="field">
            <label for="correct-category">{t("op.category")}</label>
            <select
              id="correct-category"
              name="category"
              value={choice || p.request.category?.code}
              onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}
            >
              {options.map((o) => (
                <option value={o.id}>{o.label}</option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="correct-address">{t("op.address")}</label>
            <input
              id="correct-address"
              name="address"
              list="correct-address-list"
              placeholder={p.request.address.label}
              value={addressQuery}
              onInput={(e) => {
                const v = (e.target as HTMLInputElement).value;
                setAddressQuery(v);
                setAddressId(addresses.find((x) => x.label === v)?.id ?? "");
              }}
            />
            <datalist id="correct-address-list">
              {addresses.map((x) => (
                <option value={x.label} />
              ))}
            </datalist>
          </div>
          <div class="field">
            <label for="correct-description">{t("op.description")}</label>
            <textarea
              id="correct-description"
              name="description"
              rows={3}
              value={description}
              onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)}
            />
          </div>
        </>
      )}
      {a === "ADD_APPLICANT" && (
        <>
          <div class="row">
            <div class="field">
              <label for="applicant-phone">{t("op.phone")}</label>
              <input
                id="applicant-phone"
                name="phone"
                type="tel"
                autoFocus
                value={applicant.phone}
                onInput={(e) => {
                  const phone = (e.target as HTMLInputElement).value;
                  setApplicant((a) => ({ ...a, phone }));
                }}
              />
            </div>
            <div class="field">
              <label for="applicant-name">{t("op.name")}</label>
              <input
                id="applicant-name"
                name="name"
                value={applicant.name}
                onInput={(e) => {
                  const name = (e.target as HTMLInputElement).value;
                  setApplicant((a) => ({ ...a, name }));
                }}
              />
            </div>
          </div>
          <label class="check">
            <input
              id="applicant-consent"
              type="checkbox"
              checked={applicant.consent}
              onChange={(e) => {
                const consent = (e.target as HTMLInputElement).checked;
                setApplicant((a) => ({ ...a, consent }));
              }}
            />
            {t("op.consent")}
          </label>
        </>
      )}
      {a === "RECORD_CALLBACK_OUTCOME" && (
        <div class="field">
          <label for="action-outcome">{t("rq.outcome")}</label>
          <select id="action-outcome" name="outcome" value={choice} onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}>
            {["CONFIRMED", "NOT_FIXED", "NO_ANSWER", "WRONG_NUMBER"].map((o) => (
              <option value={o}>{t("outcome." + o)}</option>
            ))}
          </select>
        </div>
      )}
      {NEEDS_TEXT[a] !== "none" && (
        <div class={"field" + (problem ? " invalid" : "")}>
          <label for="action-text">{textLabel}</label>
          <textarea
            id="action-text"
            name="text"
            rows={2}
            autoFocus={a !== "REASSIGN" && a !== "LINK_TO_INCIDENT" && a !== "CORRECT"}
            value={text}
            aria-invalid={!!problem}
            aria-describedby={problem ? "action-problem" : undefined}
            onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          />
        </div>
      )}
      {a === "RESOLVE" && (
        <div class="field">
          <label for="action-note">{t("rq.note")}</label>
          <input id="action-note" name="note" value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
        </div>
      )}
      {problem && (
        <p class="error" id="action-problem" role="alert">
          {problem}
        </p>
      )}
      <div class="row">
        <button type="submit" disabled={busy} data-testid="action-submit">
          {t("rq.submit")}
        </button>
        <button type="button" class="secondary" onClick={p.onCancel}>
          {t("rq.cancelForm")}
        </button>
      </div>
    </form>
  );
}

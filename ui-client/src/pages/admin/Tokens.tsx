/**
 * The tokens tab: issue a token (shown once, with a copy button, since only
 * its id is stored) and revoke one after a confirmation; the recorded
 * tokens with who issued and who revoked each.
 */
import { useState } from "preact/hooks";
import { useSession } from "../../app";
import { gql } from "../../lib/api";
import { fill } from "../../lib/i18n";
import { decodeClaims } from "../../lib/session";
import { formatDateTime } from "../../lib/time";
import {
  adminError,
  ConfirmBox,
  Field,
  focusInvalid,
  FormEnd,
  HistoryPanel,
  only,
  Said,
  Scroll,
  Toggle,
  usePanel,
  useQuery,
  useSave,
  valueOf,
  type Problems,
  type T,
} from "./shared";

const LOAD = `query($lang: String!) {
  tokens(first: 100) { jti subject role organizationId issuedAt expiresAt issuedBy revokedAt revokedBy }
  organizations { id name(lang: $lang) }
}`;
const ISSUE = `mutation($role: GqlRole!, $org: ID, $ttl: Duration, $subject: String, $ext: String) {
  issueToken(role: $role, organizationId: $org, ttl: $ttl, subject: $subject, extension: $ext) { token jti expiresAt }
}`;
const REVOKE = `mutation($jti: ID!) { revokeToken(jti: $jti) }`;

const ROLES = ["OPERATOR", "SUPERVISOR", "CONTRACTOR", "ADMIN"];
/** The server's longest lifetime. */
const MAX_DAYS = 366;

interface TokenRow {
  jti: string;
  subject: string;
  role: string;
  organizationId: string | null;
  issuedAt: string;
  expiresAt: string;
  issuedBy: string;
  revokedAt: string | null;
  revokedBy: string | null;
}

interface Issued {
  token: string;
  jti: string;
  expiresAt: string;
}

/** Issue, list and revoke tokens. */
export function Tokens() {
  const { t, lang, token, logout } = useSession();
  const { data, error, reload } = useQuery<{ tokens: TokenRow[]; organizations: Array<{ id: string; name: string }> }>(LOAD, { lang }, [lang]);
  const [issued, setIssued] = useState<Issued | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const panel = usePanel<"history" | "revoke">();
  const now = Date.now();
  // The token this page runs with: revoking it signs the admin out.
  const own = token ? (decodeClaims(token) as { jti?: string } | null)?.jti : undefined;
  const orgName = (id: string | null) => (id ? (data?.organizations.find((o) => o.id === id)?.name ?? id) : "—");
  const revoke = async (r: TokenRow) => {
    try {
      await gql(REVOKE, { jti: r.jti }, token);
      if (r.jti === own) return logout();
      setNotice(fill(t("adm.tok.revoked"), { subject: r.subject }));
      setFailure(null);
      panel.close();
      reload();
    } catch (e) {
      setFailure(adminError(e, t));
    }
  };
  // Newest first (the one just issued on top), whatever order the server lists them in.
  const rows = [...(data?.tokens ?? [])].sort(
    (a, b) => b.issuedAt.localeCompare(a.issuedAt) || b.jti.localeCompare(a.jti),
  );
  return (
    <>
      <Said notice={notice} error={error ?? failure} />
      {issued && <IssuedToken issued={issued} onDone={() => setIssued(null)} />}
      {data && (
        <IssueForm
          organizations={data.organizations}
          onIssued={(i) => {
            setIssued(i);
            setNotice(null);
            reload();
          }}
        />
      )}
      {data === null ? (
        !error && <p class="muted">…</p>
      ) : (
        <section class="adm-section" aria-labelledby="adm-tokens-h">
          <h2 id="adm-tokens-h">
            {t("adm.tok.title")} <span class="muted">({data.tokens.length})</span>
          </h2>
          <p class="muted small">{t("adm.tok.listHint")}</p>
          <Scroll label={t("adm.tok.title")}>
            <table class="adm-table" data-testid="token-table">
              <thead>
                <tr>
                  <th scope="col">{t("adm.tok.subject")}</th>
                  <th scope="col">{t("adm.tok.role")}</th>
                  <th scope="col">{t("adm.tok.issued")}</th>
                  <th scope="col">{t("adm.tok.expires")}</th>
                  <th scope="col">{t("adm.tok.state")}</th>
                  <th scope="col">{t("adm.actions")}</th>
                </tr>
              </thead>
              {rows.map((r) => {
                const state = r.revokedAt ? "revoked" : Date.parse(r.expiresAt) <= now ? "expired" : "active";
                return (
                  <tbody data-jti={r.jti} data-state={state} key={r.jti}>
                    <tr class={"adm-token-" + state}>
                      <td>
                        <strong data-testid="subject">{r.subject}</strong>
                        <div class="muted small">
                          <code>{r.jti}</code>
                        </div>
                      </td>
                      <td data-label={t("adm.tok.role")}>
                        {t("role." + r.role)}
                        {r.organizationId && <div class="muted small">{orgName(r.organizationId)}</div>}
                      </td>
                      <td class="small" data-label={t("adm.tok.issued")}>
                        <span class="adm-nowrap">{formatDateTime(r.issuedAt, lang)}</span>
                        <div class="muted">{r.issuedBy === "system" ? t("role.SYSTEM") : r.issuedBy}</div>
                      </td>
                      <td class="small adm-nowrap" data-label={t("adm.tok.expires")}>{formatDateTime(r.expiresAt, lang)}</td>
                      <td class="small" data-testid="state" data-label={t("adm.tok.state")}>
                        {t("adm.tok.state." + state)}
                        {r.revokedAt && (
                          <div class="muted">
                            {formatDateTime(r.revokedAt, lang)} · {r.revokedBy ?? ""}
                          </div>
                        )}
                      </td>
                      <td class="adm-row-actions">
                        {state === "active" && (
                          <button
                            type="button"
                            class="secondary danger"
                            aria-expanded={panel.is(r.jti, "revoke")}
                            data-testid="revoke"
                            onClick={() => panel.toggle(r.jti, "revoke")}
                          >
                            {t("adm.tok.revoke")}
                          </button>
                        )}
                        <Toggle open={panel.is(r.jti, "history")} onClick={() => panel.toggle(r.jti, "history")} label={t("adm.history")} of={r.subject} testid="history" />
                      </td>
                    </tr>
                    {panel.of(r.jti) && (
                      <tr class="adm-detail">
                        <td colSpan={6}>
                          {panel.is(r.jti, "history") && <HistoryPanel kind="TOKEN" recordKey={r.jti} />}
                          {panel.is(r.jti, "revoke") && (
                            <ConfirmBox
                              question={fill(t(r.jti === own ? "adm.tok.revokeOwnQ" : "adm.tok.revokeQ"), { subject: r.subject })}
                              yes={t("adm.tok.revokeYes")}
                              onYes={() => revoke(r)}
                              onNo={panel.close}
                              testid="revoke"
                            />
                          )}
                        </td>
                      </tr>
                    )}
                  </tbody>
                );
              })}
            </table>
          </Scroll>
        </section>
      )}
    </>
  );
}

/** The token just issued: shown this once, with a copy button. */
function IssuedToken(p: { issued: Issued; onDone: () => void }) {
  const { t, lang } = useSession();
  const [copied, setCopied] = useState<boolean | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(p.issued.token);
      setCopied(true);
    } catch {
      // Without clipboard access the text is selected for Ctrl+C.
      (document.getElementById("issued-token") as HTMLTextAreaElement | null)?.select();
      setCopied(false);
    }
  };
  return (
    <section class="adm-issued" role="region" aria-labelledby="issued-h" data-testid="issued">
      <h2 id="issued-h">{t("adm.tok.issuedTitle")}</h2>
      <p class="adm-warning" role="alert">
        {t("adm.tok.once")}
      </p>
      <label for="issued-token" class="label">
        {fill(t("adm.tok.validUntil"), { at: formatDateTime(p.issued.expiresAt, lang) })}
      </label>
      <textarea id="issued-token" readOnly rows={3} data-testid="issued-token" data-jti={p.issued.jti} value={p.issued.token}
        onFocus={(e) => (e.target as HTMLTextAreaElement).select()}
      />
      <div class="adm-buttons">
        <button type="button" data-testid="copy" onClick={copy}>
          {t("adm.tok.copy")}
        </button>
        <button type="button" class="secondary" onClick={p.onDone}>
          {t("adm.tok.hide")}
        </button>
        <span role="status" class="small" data-testid="copied">
          {copied === true ? t("adm.tok.copied") : copied === false ? t("adm.tok.copyManually") : ""}
        </span>
      </div>
    </section>
  );
}

interface Draft {
  role: string;
  organizationId: string;
  subject: string;
  extension: string;
  ttl: string;
  unit: "H" | "D";
}

/** Operators and supervisors answer calls at an extension; other roles have none. */
const answersCalls = (role: string) => role === "OPERATOR" || role === "SUPERVISOR";

function check(t: T, d: Draft): Problems {
  const n = Number(d.ttl);
  const days = d.unit === "D" ? n : n / 24;
  return only({
    organizationId: d.role === "CONTRACTOR" && !d.organizationId ? t("adm.err.organization") : undefined,
    subject: [...d.subject.trim()].length > 200 ? fill(t("adm.err.tooLong"), { n: 200 }) : undefined,
    extension: answersCalls(d.role) && d.extension.trim() && !/^[A-Za-z0-9-]{1,20}$/.test(d.extension.trim()) ? t("adm.err.extension") : undefined,
    ttl: !d.ttl.trim() || !Number.isInteger(n) || n < 1 || days > MAX_DAYS ? fill(t("adm.err.ttl"), { days: MAX_DAYS }) : undefined,
  });
}

function IssueForm(p: { organizations: Array<{ id: string; name: string }>; onIssued: (i: Issued) => void }) {
  const { t, token } = useSession();
  const [d, setD] = useState<Draft>({ role: "OPERATOR", organizationId: "", subject: "", extension: "", ttl: "12", unit: "H" });
  const [problems, setProblems] = useState<Problems>({});
  const save = useSave();
  const set = (k: keyof Draft) => (e: Event) => setD({ ...d, [k]: valueOf(e) });
  const submit = (e: Event) => {
    e.preventDefault();
    const found = check(t, d);
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      const r = await gql<{ issueToken: Issued }>(
        ISSUE,
        {
          role: d.role,
          org: d.role === "CONTRACTOR" ? d.organizationId : null,
          ttl: d.unit === "H" ? `PT${Number(d.ttl)}H` : `P${Number(d.ttl)}D`,
          subject: d.subject.trim() || null,
          ext: answersCalls(d.role) ? d.extension.trim() || null : null,
        },
        token,
      );
      setD({ ...d, subject: "", extension: "" });
      p.onIssued(r.issueToken);
    });
  };
  return (
    <form class="adm-form" data-testid="token-form" onSubmit={submit} noValidate>
      <h3>{t("adm.tok.issue")}</h3>
      <fieldset disabled={save.busy}>
        <div class="adm-grid">
          <Field id="tok-role" label={t("adm.tok.role")}>
            {(a) => (
              <select {...a} name="role" value={d.role} onChange={set("role")}>
                {ROLES.map((r) => (
                  <option value={r}>{t("role." + r)}</option>
                ))}
              </select>
            )}
          </Field>
          {d.role === "CONTRACTOR" && (
            <Field id="tok-org" label={t("adm.tok.organization")} problem={problems.organizationId}>
              {(a) => (
                <select {...a} name="organization" value={d.organizationId} onChange={set("organizationId")}>
                  <option value="">{t("adm.choose")}</option>
                  {p.organizations.map((o) => (
                    <option value={o.id}>{o.name}</option>
                  ))}
                </select>
              )}
            </Field>
          )}
          <Field id="tok-subject" label={t("adm.tok.subject")} problem={problems.subject} hint={t("adm.tok.subjectHint")}>
            {(a) => <input {...a} name="subject" value={d.subject} onInput={set("subject")} autoComplete="off" />}
          </Field>
          {answersCalls(d.role) && (
            <Field id="tok-ext" label={t("adm.tok.extension")} problem={problems.extension} hint={t("adm.tok.extensionHint")}>
              {(a) => <input {...a} name="extension" inputMode="numeric" value={d.extension} onInput={set("extension")} />}
            </Field>
          )}
          <Field id="tok-ttl" label={t("adm.tok.ttl")} problem={problems.ttl}>
            {(a) => (
              <span class="adm-pair">
                <input {...a} name="ttl" type="number" min={1} inputMode="numeric" value={d.ttl} onInput={set("ttl")} />
                <select name="unit" aria-label={t("adm.tok.unit")} value={d.unit} onChange={set("unit")}>
                  <option value="H">{t("adm.tok.hours")}</option>
                  <option value="D">{t("adm.tok.days")}</option>
                </select>
              </span>
            )}
          </Field>
        </div>
        <FormEnd busy={save.busy} error={save.error} save={t("adm.tok.issueButton")} testid="token" />
      </fieldset>
    </form>
  );
}

/**
 * The organizations tab: every executing organization with its delivery
 * channels (webhook, e-mail, digest), editable, each with its history; the
 * administration's own channels above them.
 */
import { useState } from "preact/hooks";
import { useSession } from "../../app";
import { gql } from "../../lib/api";
import { fill } from "../../lib/i18n";
import {
  CODE,
  Field,
  focusInvalid,
  FormEnd,
  HistoryPanel,
  only,
  Said,
  Scroll,
  textProblem,
  Toggle,
  usePanel,
  useQuery,
  useSave,
  valueOf,
  type Problems,
  type T,
} from "./shared";

const LOAD = `query {
  organizations { id nameRu: name(lang: "ru") nameEn: name(lang: "en") kind subordination district crews phone }
  deliveries { recipient webhookUrl hasWebhookSecret emails language digestMinutes }
  districts
}`;
const UPSERT = `mutation($input: OrganizationInput!) { upsertOrganization(input: $input) { id crews } }`;
const SET_DELIVERY = `mutation($recipient: ID!, $input: DeliveryInput!) { setDelivery(recipient: $recipient, input: $input) }`;

export const KINDS = ["HOUSING", "WATER", "HEATING", "ELECTRIC_GRID", "ROADS", "OTHER"];
const SUBORDINATIONS = ["CITY", "REGIONAL"];
/** The recipient whose channels are the administration's own. */
const ADMINISTRATION = "administration";

interface Org {
  id: string;
  nameRu: string;
  nameEn: string;
  kind: string;
  subordination: string;
  district: string | null;
  crews: number;
  phone: string | null;
}

interface Delivery {
  recipient: string;
  webhookUrl: string | null;
  hasWebhookSecret: boolean;
  emails: string[];
  language: string;
  digestMinutes: number;
}

type Panel = "edit" | "delivery" | "history" | "delivery-history";

/** Organizations and their delivery channels. */
export function Organizations() {
  const { t, lang } = useSession();
  const { data, error, reload } = useQuery<{ organizations: Org[]; deliveries: Delivery[]; districts: string[] }>(LOAD, {});
  const [notice, setNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const panel = usePanel<Panel>();
  const deliveryOf = (r: string) => data?.deliveries.find((d) => d.recipient === r);
  const saved = (msg: string) => {
    panel.close();
    setAdding(false);
    // Said once the list shows what was saved, never beside the old values.
    void reload().then(() => setNotice(msg));
  };
  const admin = deliveryOf(ADMINISTRATION);
  return (
    <>
      <Said notice={notice} error={error} />
      <section class="adm-section" aria-labelledby="adm-administration-h" data-testid="administration-delivery">
        <h2 id="adm-administration-h">{t("adm.org.administrationChannels")}</h2>
        {admin && <DeliverySummary d={admin} />}
        <div class="adm-buttons">
          <Toggle
            open={panel.is(ADMINISTRATION, "delivery")}
            onClick={() => panel.toggle(ADMINISTRATION, "delivery")}
            label={t("adm.delivery.edit")}
            of={t("adm.org.administration")}
            testid="edit-delivery"
            controls="delivery-administration"
          />
          <Toggle
            open={panel.is(ADMINISTRATION, "delivery-history")}
            onClick={() => panel.toggle(ADMINISTRATION, "delivery-history")}
            label={t("adm.history")}
            of={t("adm.org.administration")}
            testid="delivery-history"
          />
        </div>
        {panel.is(ADMINISTRATION, "delivery") && admin && (
          <DeliveryForm
            recipient={ADMINISTRATION}
            name={t("adm.org.administration")}
            initial={admin}
            onCancel={panel.close}
            onSaved={() => saved(fill(t("adm.delivery.saved"), { name: t("adm.org.administration") }))}
          />
        )}
        {panel.is(ADMINISTRATION, "delivery-history") && <HistoryPanel kind="DELIVERY" recordKey={ADMINISTRATION} />}
      </section>

      <section class="adm-section" aria-labelledby="adm-orgs-h">
        <h2 id="adm-orgs-h">
          {t("adm.org.title")} {data && <span class="muted">({data.organizations.length})</span>}
        </h2>
        <button type="button" class="secondary" aria-expanded={adding} data-testid="new-org" onClick={() => setAdding(!adding)}>
          {t("adm.org.new")}
        </button>
        {adding && data && (
          <OrgForm
            initial={null}
            districts={data.districts}
            taken={data.organizations.map((o) => o.id)}
            onCancel={() => setAdding(false)}
            onSaved={(o) => saved(fill(t("adm.org.saved"), { name: lang === "ru" ? o.nameRu : o.nameEn }))}
          />
        )}
        {data === null ? (
          !error && <p class="muted">…</p>
        ) : (
          <Scroll label={t("adm.org.title")}>
            <table class="adm-table" data-testid="org-table">
              <thead>
                <tr>
                  <th scope="col">{t("adm.org.name")}</th>
                  <th scope="col">{t("adm.org.kind")}</th>
                  <th scope="col">{t("adm.org.district")}</th>
                  <th scope="col" class="num">
                    {t("adm.org.crews")}
                  </th>
                  <th scope="col">{t("adm.org.phone")}</th>
                  <th scope="col">{t("adm.delivery.title")}</th>
                  <th scope="col">{t("adm.actions")}</th>
                </tr>
              </thead>
              {data.organizations.map((o) => {
                const name = lang === "ru" ? o.nameRu : o.nameEn;
                const d = deliveryOf(o.id);
                const open = panel.of(o.id);
                return (
                  <tbody data-org={o.id} key={o.id}>
                    <tr>
                      <td>
                        <strong data-testid="org-name">{name}</strong>
                        <div class="muted small">
                          <code>{o.id}</code>
                        </div>
                      </td>
                      <td data-label={t("adm.org.kind")}>
                        {t("adm.orgKind." + o.kind)}
                        <div class="muted small">{t("adm.sub." + o.subordination)}</div>
                      </td>
                      <td data-label={t("adm.org.district")}>{o.district ?? <span class="muted">{t("adm.org.wholeCity")}</span>}</td>
                      <td class="num" data-testid="crews" data-label={t("adm.org.crews")}>
                        {o.crews}
                      </td>
                      <td class="adm-nowrap" data-label={t("adm.org.phone")}>{o.phone ?? "—"}</td>
                      <td data-testid="delivery" data-label={t("adm.delivery.title")}>{d && <DeliverySummary d={d} short />}</td>
                      <td class="adm-row-actions">
                        <Toggle open={open === "edit"} onClick={() => panel.toggle(o.id, "edit")} label={t("adm.edit")} of={name} testid="edit" />
                        <Toggle
                          open={open === "delivery"}
                          onClick={() => panel.toggle(o.id, "delivery")}
                          label={t("adm.delivery.edit")}
                          of={name}
                          testid="edit-delivery"
                        />
                        <Toggle open={open === "history"} onClick={() => panel.toggle(o.id, "history")} label={t("adm.history")} of={name} testid="history" />
                        <Toggle
                          open={open === "delivery-history"}
                          onClick={() => panel.toggle(o.id, "delivery-history")}
                          label={t("adm.delivery.history")}
                          of={name}
                          testid="delivery-history"
                        />
                      </td>
                    </tr>
                    {open && (
                      <tr class="adm-detail">
                        <td colSpan={7}>
                          {open === "edit" && (
                            <OrgForm
                              initial={o}
                              districts={data.districts}
                              taken={[]}
                              onCancel={panel.close}
                              onSaved={(s) => saved(fill(t("adm.org.saved"), { name: lang === "ru" ? s.nameRu : s.nameEn }))}
                            />
                          )}
                          {open === "delivery" && d && (
                            <DeliveryForm
                              recipient={o.id}
                              name={name}
                              initial={d}
                              onCancel={panel.close}
                              onSaved={() => saved(fill(t("adm.delivery.saved"), { name }))}
                            />
                          )}
                          {open === "history" && <HistoryPanel kind="ORGANIZATION" recordKey={o.id} />}
                          {open === "delivery-history" && <HistoryPanel kind="DELIVERY" recordKey={o.id} />}
                        </td>
                      </tr>
                    )}
                  </tbody>
                );
              })}
            </table>
          </Scroll>
        )}
      </section>
    </>
  );
}

/** An organization's channels in a few words. */
function DeliverySummary(p: { d: Delivery; short?: boolean }) {
  const { t } = useSession();
  const d = p.d;
  const none = !d.webhookUrl && d.emails.length === 0;
  return (
    <div class="adm-delivery small">
      {none ? (
        <span class="muted" data-testid="no-channels">
          {t(p.short ? "adm.delivery.noneShort" : "adm.delivery.none")}
        </span>
      ) : (
        <>
          {d.emails.length > 0 && (
            <div data-testid="emails">
              {t("channel.email")}: {d.emails.join(", ")}
            </div>
          )}
          {d.webhookUrl && (
            <div class="adm-break">
              {t("channel.webhook")}: {d.webhookUrl} {d.hasWebhookSecret && <span class="muted">({t("adm.delivery.signed")})</span>}
            </div>
          )}
          <div class="muted">
            {d.digestMinutes > 0 ? fill(t("adm.delivery.digestEvery"), { n: d.digestMinutes }) : t("adm.delivery.eachAtOnce")} ·{" "}
            {d.language === "en" ? "English" : "русский"}
          </div>
        </>
      )}
    </div>
  );
}

interface OrgDraft {
  id: string;
  nameRu: string;
  nameEn: string;
  kind: string;
  subordination: string;
  district: string;
  crews: string;
  phone: string;
}

function checkOrg(t: T, d: OrgDraft, taken: string[]): Problems {
  const crews = Number(d.crews);
  return only({
    id: !CODE.test(d.id.trim()) ? t("adm.err.code") : taken.includes(d.id.trim()) ? t("adm.err.codeTaken") : undefined,
    nameRu: textProblem(t, d.nameRu, 300),
    nameEn: textProblem(t, d.nameEn, 300),
    crews: d.crews.trim() === "" || !Number.isInteger(crews) || crews < 0 || crews > 10000 ? t("adm.err.crews") : undefined,
    phone: d.phone.trim() && !/^[0-9 +()-]{5,20}$/.test(d.phone.trim()) ? t("err.phone") : undefined,
  });
}

/** A new organization (with its code) or an existing one's fields. */
function OrgForm(p: { initial: Org | null; districts: string[]; taken: string[]; onCancel: () => void; onSaved: (o: OrgDraft) => void }) {
  const { t, token } = useSession();
  const i = p.initial;
  const [d, setD] = useState<OrgDraft>({
    id: i?.id ?? "",
    nameRu: i?.nameRu ?? "",
    nameEn: i?.nameEn ?? "",
    kind: i?.kind ?? "HOUSING",
    subordination: i?.subordination ?? "CITY",
    district: i?.district ?? "",
    crews: String(i?.crews ?? 1),
    phone: i?.phone ?? "",
  });
  const [problems, setProblems] = useState<Problems>({});
  const save = useSave();
  const set = (k: keyof OrgDraft) => (e: Event) => setD({ ...d, [k]: valueOf(e) });
  const pid = "org-" + (i?.id ?? "new");
  const submit = (e: Event) => {
    e.preventDefault();
    const found = checkOrg(t, d, p.taken);
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      const input = {
        id: d.id.trim(),
        nameRu: d.nameRu.trim(),
        nameEn: d.nameEn.trim(),
        kind: d.kind,
        subordination: d.subordination,
        district: d.district || null,
        crews: Number(d.crews),
        phone: d.phone.trim() || null,
      };
      await gql(UPSERT, { input }, token);
      p.onSaved(d);
    });
  };
  return (
    <form class="adm-form" data-testid="org-form" onSubmit={submit} noValidate>
      <h3>{i ? fill(t("adm.org.editing"), { name: i.id }) : t("adm.org.new")}</h3>
      <fieldset disabled={save.busy}>
        <div class="adm-grid">
          {!i && (
            <Field id={pid + "-id"} label={t("adm.code")} problem={problems.id} hint={t("adm.codeHint")}>
              {(a) => <input {...a} name="id" value={d.id} onInput={set("id")} autoComplete="off" />}
            </Field>
          )}
          <Field id={pid + "-nameRu"} label={t("adm.nameRu")} problem={problems.nameRu}>
            {(a) => <input {...a} name="nameRu" value={d.nameRu} onInput={set("nameRu")} />}
          </Field>
          <Field id={pid + "-nameEn"} label={t("adm.nameEn")} problem={problems.nameEn}>
            {(a) => <input {...a} name="nameEn" value={d.nameEn} onInput={set("nameEn")} />}
          </Field>
          <Field id={pid + "-kind"} label={t("adm.org.kind")}>
            {(a) => (
              <select {...a} name="kind" value={d.kind} onChange={set("kind")}>
                {KINDS.map((k) => (
                  <option value={k}>{t("adm.orgKind." + k)}</option>
                ))}
              </select>
            )}
          </Field>
          <Field id={pid + "-sub"} label={t("adm.org.subordination")}>
            {(a) => (
              <select {...a} name="subordination" value={d.subordination} onChange={set("subordination")}>
                {SUBORDINATIONS.map((k) => (
                  <option value={k}>{t("adm.sub." + k)}</option>
                ))}
              </select>
            )}
          </Field>
          <Field id={pid + "-district"} label={t("adm.org.district")}>
            {(a) => (
              <select {...a} name="district" value={d.district} onChange={set("district")}>
                <option value="">{t("adm.org.wholeCity")}</option>
                {[...new Set([...p.districts, ...(d.district ? [d.district] : [])])].map((x) => (
                  <option value={x}>{x}</option>
                ))}
              </select>
            )}
          </Field>
          <Field id={pid + "-crews"} label={t("adm.org.crews")} problem={problems.crews}>
            {(a) => <input {...a} name="crews" type="number" min={0} max={10000} step={1} inputMode="numeric" value={d.crews} onInput={set("crews")} />}
          </Field>
          <Field id={pid + "-phone"} label={t("adm.org.phone")} problem={problems.phone}>
            {(a) => <input {...a} name="phone" type="tel" value={d.phone} onInput={set("phone")} />}
          </Field>
        </div>
        <FormEnd busy={save.busy} error={save.error} save={t("adm.save")} onCancel={p.onCancel} testid="org" />
      </fieldset>
    </form>
  );
}

interface DeliveryDraft {
  emails: string;
  webhookUrl: string;
  webhookSecret: string;
  language: string;
  digestMinutes: string;
}

/** An e-mail address as the server takes it: something@domain.tld. */
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function checkDelivery(t: T, d: DeliveryDraft, hadSecret: boolean): Problems {
  const emails = splitEmails(d.emails);
  const bad = emails.find((e) => e.length > 254 || !EMAIL.test(e));
  const url = d.webhookUrl.trim();
  const digest = Number(d.digestMinutes);
  return only({
    emails: bad ? fill(t("adm.err.email"), { email: bad }) : undefined,
    webhookUrl: url && !/^https?:\/\/\S+$/.test(url) ? t("adm.err.url") : undefined,
    webhookSecret:
      d.webhookSecret && new TextEncoder().encode(d.webhookSecret).length < 32
        ? t("adm.err.secretShort")
        : url && !d.webhookSecret
          ? hadSecret
            ? t("adm.err.secretAgain")
            : t("adm.err.secretNeeded")
          : undefined,
    digestMinutes: d.digestMinutes.trim() === "" || !Number.isInteger(digest) || digest < 0 || digest > 1440 ? t("adm.err.digest") : undefined,
  });
}

/** Addresses typed one a line or separated by commas. */
function splitEmails(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter(Boolean);
}

/** Where an organization's (or the administration's) notices go. */
function DeliveryForm(p: { recipient: string; name: string; initial: Delivery; onCancel: () => void; onSaved: () => void }) {
  const { t, token } = useSession();
  const i = p.initial;
  const [d, setD] = useState<DeliveryDraft>({
    emails: i.emails.join("\n"),
    webhookUrl: i.webhookUrl ?? "",
    webhookSecret: "",
    language: i.language,
    digestMinutes: String(i.digestMinutes),
  });
  const [problems, setProblems] = useState<Problems>({});
  const save = useSave();
  const set = (k: keyof DeliveryDraft) => (e: Event) => setD({ ...d, [k]: valueOf(e) });
  const pid = "delivery-" + p.recipient;
  const submit = (e: Event) => {
    e.preventDefault();
    const found = checkDelivery(t, d, i.hasWebhookSecret);
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      const input = {
        emails: splitEmails(d.emails),
        webhookUrl: d.webhookUrl.trim() || null,
        webhookSecret: d.webhookUrl.trim() ? d.webhookSecret : null,
        language: d.language,
        digestMinutes: Number(d.digestMinutes),
      };
      await gql(SET_DELIVERY, { recipient: p.recipient, input }, token);
      p.onSaved();
    });
  };
  return (
    <form class="adm-form" id={pid} data-testid="delivery-form" onSubmit={submit} noValidate>
      <h3>{fill(t("adm.delivery.editing"), { name: p.name })}</h3>
      <fieldset disabled={save.busy}>
        <div class="adm-grid">
          <Field id={pid + "-emails"} label={t("adm.delivery.emails")} problem={problems.emails} hint={t("adm.delivery.emailsHint")} wide>
            {(a) => <textarea {...a} name="emails" rows={2} value={d.emails} onInput={set("emails")} />}
          </Field>
          <Field id={pid + "-url"} label={t("adm.delivery.webhookUrl")} problem={problems.webhookUrl}>
            {(a) => <input {...a} name="webhookUrl" type="url" placeholder="https://…" value={d.webhookUrl} onInput={set("webhookUrl")} />}
          </Field>
          <Field
            id={pid + "-secret"}
            label={t("adm.delivery.webhookSecret")}
            problem={problems.webhookSecret}
            hint={i.hasWebhookSecret ? t("adm.delivery.secretKept") : t("adm.delivery.secretHint")}
          >
            {(a) => <input {...a} name="webhookSecret" type="password" autoComplete="new-password" value={d.webhookSecret} onInput={set("webhookSecret")} />}
          </Field>
          <Field id={pid + "-lang"} label={t("adm.delivery.language")}>
            {(a) => (
              <select {...a} name="language" value={d.language} onChange={set("language")}>
                <option value="ru">русский</option>
                <option value="en">English</option>
              </select>
            )}
          </Field>
          <Field id={pid + "-digest"} label={t("adm.delivery.digest")} problem={problems.digestMinutes} hint={t("adm.delivery.digestHint")}>
            {(a) => <input {...a} name="digestMinutes" type="number" min={0} max={1440} inputMode="numeric" value={d.digestMinutes} onInput={set("digestMinutes")} />}
          </Field>
        </div>
        <FormEnd busy={save.busy} error={save.error} save={t("adm.save")} onCancel={p.onCancel} testid="delivery" />
      </fieldset>
    </form>
  );
}

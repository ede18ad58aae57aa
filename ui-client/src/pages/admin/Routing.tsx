/**
 * The routing tab: which organization gets a category's requests, in a
 * district or city-wide. A rule is set (added, or replaced for the same
 * category and district) and deleted after a confirmation; each has its
 * history.
 */
import { useState } from "preact/hooks";
import { useSession } from "../../app";
import { gql } from "../../lib/api";
import { fill } from "../../lib/i18n";
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
} from "./shared";

const LOAD = `query($lang: String!) {
  routingRules { key categoryCode category { name(lang: $lang) } district organizationId organization { name(lang: $lang) } }
  categories { code name(lang: $lang) }
  organizations { id name(lang: $lang) }
  districts
}`;
const SET = `mutation($c: ID!, $d: String, $o: ID!) { setRoutingRule(categoryCode: $c, district: $d, organizationId: $o) }`;
const DELETE = `mutation($c: ID!, $d: String) { deleteRoutingRule(categoryCode: $c, district: $d) }`;

interface Rule {
  key: string;
  categoryCode: string;
  category: { name: string } | null;
  district: string | null;
  organizationId: string;
  organization: { name: string } | null;
}

interface Data {
  routingRules: Rule[];
  categories: Array<{ code: string; name: string }>;
  organizations: Array<{ id: string; name: string }>;
  districts: string[];
}

interface Draft {
  categoryCode: string;
  district: string;
  organizationId: string;
}

/** The routing rules and the form that sets one. */
export function Routing() {
  const { t, lang, token } = useSession();
  const { data, error, reload } = useQuery<Data>(LOAD, { lang }, [lang]);
  const [notice, setNotice] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>({ categoryCode: "", district: "", organizationId: "" });
  const [problems, setProblems] = useState<Problems>({});
  const [filter, setFilter] = useState("");
  const panel = usePanel<"history" | "delete">();
  const save = useSave();
  const set = (k: keyof Draft) => (e: Event) => setDraft({ ...draft, [k]: valueOf(e) });
  const words = (r: { categoryCode: string; district: string | null }) =>
    `${data?.categories.find((c) => c.code === r.categoryCode)?.name ?? r.categoryCode} · ${r.district || t("adm.routing.city")}`;

  const submit = (e: Event) => {
    e.preventDefault();
    const found = only({
      categoryCode: draft.categoryCode ? undefined : t("err.category"),
      organizationId: draft.organizationId ? undefined : t("adm.err.organization"),
    });
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      await gql(SET, { c: draft.categoryCode, d: draft.district || null, o: draft.organizationId }, token);
      setNotice(fill(t("adm.routing.saved"), { rule: words({ categoryCode: draft.categoryCode, district: draft.district || null }) }));
      setFailure(null);
      reload();
    });
  };
  const remove = async (r: Rule) => {
    try {
      await gql(DELETE, { c: r.categoryCode, d: r.district }, token);
      setNotice(fill(t("adm.routing.deleted"), { rule: words(r) }));
      setFailure(null);
      panel.close();
      reload();
    } catch (e) {
      setFailure(adminError(e, t));
    }
  };
  const shown = (data?.routingRules ?? []).filter((r) => {
    const q = filter.trim().toLowerCase();
    if (!q) return true;
    return [r.categoryCode, r.category?.name, r.district, r.organizationId, r.organization?.name].some((x) => x?.toLowerCase().includes(q));
  });

  return (
    <>
      <Said notice={notice} error={error ?? failure} />
      {data && (
        <form class="adm-form" data-testid="rule-form" onSubmit={submit} noValidate>
          <h3>{t("adm.routing.set")}</h3>
          <p class="muted small">{t("adm.routing.setHint")}</p>
          <fieldset disabled={save.busy}>
            <div class="adm-grid">
              <Field id="rule-category" label={t("adm.routing.category")} problem={problems.categoryCode}>
                {(a) => (
                  <select {...a} name="category" value={draft.categoryCode} onChange={set("categoryCode")}>
                    <option value="">{t("adm.choose")}</option>
                    {data.categories.map((c) => (
                      <option value={c.code}>{c.name}</option>
                    ))}
                  </select>
                )}
              </Field>
              <Field id="rule-district" label={t("adm.routing.district")}>
                {(a) => (
                  <select {...a} name="district" value={draft.district} onChange={set("district")}>
                    <option value="">{t("adm.routing.city")}</option>
                    {data.districts.map((d) => (
                      <option value={d}>{d}</option>
                    ))}
                  </select>
                )}
              </Field>
              <Field id="rule-org" label={t("adm.routing.organization")} problem={problems.organizationId}>
                {(a) => (
                  <select {...a} name="organization" value={draft.organizationId} onChange={set("organizationId")}>
                    <option value="">{t("adm.choose")}</option>
                    {data.organizations.map((o) => (
                      <option value={o.id}>{o.name}</option>
                    ))}
                  </select>
                )}
              </Field>
            </div>
            {data.routingRules.some((r) => r.categoryCode === draft.categoryCode && (r.district ?? "") === draft.district) && (
              <p class="muted small" data-testid="replaces">
                {t("adm.routing.replaces")}
              </p>
            )}
            <FormEnd busy={save.busy} error={save.error} save={t("adm.routing.setButton")} testid="rule" />
          </fieldset>
        </form>
      )}
      {data === null ? (
        !error && <p class="muted">…</p>
      ) : (
        <section class="adm-section" aria-labelledby="adm-rules-h">
          <h2 id="adm-rules-h">
            {t("adm.routing.title")} <span class="muted">({data.routingRules.length})</span>
          </h2>
          <div class="field adm-filter">
            <label for="rule-filter">{t("adm.filter")}</label>
            <input id="rule-filter" type="search" value={filter} onInput={(e) => setFilter(valueOf(e))} />
          </div>
          <Scroll label={t("adm.routing.title")}>
            <table class="adm-table" data-testid="rule-table">
              <thead>
                <tr>
                  <th scope="col">{t("adm.routing.category")}</th>
                  <th scope="col">{t("adm.routing.district")}</th>
                  <th scope="col">{t("adm.routing.organization")}</th>
                  <th scope="col">{t("adm.actions")}</th>
                </tr>
              </thead>
              {shown.map((r) => (
                <tbody data-rule={r.key} data-category={r.categoryCode} data-district={r.district ?? ""} key={r.key}>
                  <tr>
                    <td>
                      {r.category?.name ?? r.categoryCode} <code class="muted small">{r.categoryCode}</code>
                    </td>
                    <td data-label={t("adm.routing.district")}>{r.district ?? <span class="muted">{t("adm.routing.city")}</span>}</td>
                    <td data-testid="rule-org" data-label={t("adm.routing.organization")}>{r.organization?.name ?? r.organizationId}</td>
                    <td class="adm-row-actions">
                      <button
                        type="button"
                        class="link"
                        data-testid="change"
                        onClick={() => {
                          setDraft({ categoryCode: r.categoryCode, district: r.district ?? "", organizationId: r.organizationId });
                          document.getElementById("rule-org")?.focus();
                        }}
                      >
                        {t("adm.routing.change")}
                      </button>
                      <Toggle
                        open={panel.is(r.key, "history")}
                        onClick={() => panel.toggle(r.key, "history")}
                        label={t("adm.history")}
                        of={words(r)}
                        testid="history"
                      />
                      <button
                        type="button"
                        class="secondary danger"
                        aria-expanded={panel.is(r.key, "delete")}
                        data-testid="delete"
                        onClick={() => panel.toggle(r.key, "delete")}
                      >
                        {t("adm.delete")}
                      </button>
                    </td>
                  </tr>
                  {panel.of(r.key) && (
                    <tr class="adm-detail">
                      <td colSpan={4}>
                        {panel.is(r.key, "history") && <HistoryPanel kind="ROUTING_RULE" recordKey={r.key} />}
                        {panel.is(r.key, "delete") && (
                          <ConfirmBox
                            question={fill(t("adm.routing.deleteQ"), { rule: words(r) })}
                            yes={t("adm.deleteYes")}
                            onYes={() => remove(r)}
                            onNo={panel.close}
                            testid="delete"
                          />
                        )}
                      </td>
                    </tr>
                  )}
                </tbody>
              ))}
            </table>
          </Scroll>
        </section>
      )}
    </>
  );
}

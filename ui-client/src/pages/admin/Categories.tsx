/**
 * The categories tab: each category's names, deadline class in words,
 * keywords and both operator scripts (Russian and English) with their
 * placeholders marked; editable, each with its history. A script naming a
 * placeholder the server does not fill is refused before sending: it would
 * be read to a caller as it stands.
 */
import { useState } from "preact/hooks";
import { useSession } from "../../app";
import { gql } from "../../lib/api";
import { fill } from "../../lib/i18n";
import { formatWindow, parseIsoDuration } from "../../lib/time";
import {
  CODE,
  Field,
  focusInvalid,
  FormEnd,
  HistoryPanel,
  only,
  Said,
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
  categories {
    code group deadlineClass window keywords
    nameRu: name(lang: "ru") nameEn: name(lang: "en") scriptRu: script(lang: "ru") scriptEn: script(lang: "en")
  }
}`;
const UPSERT = `mutation($input: CategoryInput!) { upsertCategory(input: $input) { code } }`;

const CLASSES = ["EMERGENCY", "SHORT", "MEDIUM", "LONG"];
/** What the server fills in a script (`workflow/src/routing.rs`). */
export const PLACEHOLDERS = ["deadline", "organization", "address", "category"];

interface Category {
  code: string;
  group: string;
  deadlineClass: string;
  window: string;
  keywords: string[];
  nameRu: string;
  nameEn: string;
  scriptRu: string;
  scriptEn: string;
}

type Panel = "edit" | "history";

/** Every category, grouped as the registry groups them. */
export function Categories() {
  const { t, lang } = useSession();
  const { data, error, reload } = useQuery<{ categories: Category[] }>(LOAD, {});
  const [notice, setNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const panel = usePanel<Panel>();
  const saved = (name: string) => {
    setNotice(fill(t("adm.cat.saved"), { name }));
    panel.close();
    setAdding(false);
    reload();
  };
  const groups = [...new Set((data?.categories ?? []).map((c) => c.group))];
  return (
    <>
      <Said notice={notice} error={error} />
      <p class="muted small">
        {t("adm.cat.placeholders")} {PLACEHOLDERS.map((p) => <code class="adm-ph">{`{${p}}`}</code>)}
      </p>
      <button type="button" class="secondary" aria-expanded={adding} data-testid="new-category" onClick={() => setAdding(!adding)}>
        {t("adm.cat.new")}
      </button>
      {adding && data && (
        <CategoryForm
          initial={null}
          groups={groups}
          taken={data.categories.map((c) => c.code)}
          onCancel={() => setAdding(false)}
          onSaved={saved}
        />
      )}
      {data === null ? (
        !error && <p class="muted">…</p>
      ) : (
        <ul class="adm-cards" data-testid="category-list">
          {data.categories.map((c) => {
            const name = lang === "ru" ? c.nameRu : c.nameEn;
            const open = panel.of(c.code);
            const seconds = parseIsoDuration(c.window);
            return (
              <li class="adm-card" data-category={c.code} key={c.code}>
                <div class="adm-card-head">
                  <strong data-testid="category-name">{name}</strong> <code class="muted small">{c.code}</code>
                  <span class={"class-tag " + c.deadlineClass} data-testid="deadline-class">
                    {t("class." + c.deadlineClass)}
                  </span>
                </div>
                <div class="muted small">
                  {c.group}
                  {seconds !== null && ` · ${t("adm.cat.window")}: ${formatWindow(seconds, lang)}`}
                  {c.keywords.length > 0 && ` · ${t("adm.cat.keywords")}: ${c.keywords.join(", ")}`}
                </div>
                <div class="adm-scripts">
                  <div>
                    <span class="label small">{t("adm.cat.scriptRu")}</span>
                    <blockquote class="script" lang="ru" data-testid="script-ru">
                      <Marked text={c.scriptRu} />
                    </blockquote>
                  </div>
                  <div>
                    <span class="label small">{t("adm.cat.scriptEn")}</span>
                    <blockquote class="script" lang="en" data-testid="script-en">
                      <Marked text={c.scriptEn} />
                    </blockquote>
                  </div>
                </div>
                <div class="adm-buttons">
                  <Toggle open={open === "edit"} onClick={() => panel.toggle(c.code, "edit")} label={t("adm.edit")} of={name} testid="edit" />
                  <Toggle open={open === "history"} onClick={() => panel.toggle(c.code, "history")} label={t("adm.history")} of={name} testid="history" />
                </div>
                {open === "edit" && <CategoryForm initial={c} groups={groups} taken={[]} onCancel={panel.close} onSaved={saved} />}
                {open === "history" && <HistoryPanel kind="CATEGORY" recordKey={c.code} />}
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}

/** A script with its placeholders marked, as the operator will hear them filled. */
function Marked(p: { text: string }) {
  const parts = p.text.split(/(\{\w+\})/g);
  return (
    <>
      {parts.map((s) =>
        /^\{\w+\}$/.test(s) ? (
          <mark class={PLACEHOLDERS.includes(s.slice(1, -1)) ? "adm-ph" : "adm-ph unknown"}>{s}</mark>
        ) : (
          s
        ),
      )}
    </>
  );
}

/** Placeholders a script names that the server does not fill. */
export function unknownPlaceholders(script: string): string[] {
  return [...script.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).filter((p) => !PLACEHOLDERS.includes(p));
}

interface Draft {
  code: string;
  group: string;
  nameRu: string;
  nameEn: string;
  deadlineClass: string;
  scriptRu: string;
  scriptEn: string;
  keywords: string;
}

function scriptProblem(t: T, v: string): string | undefined {
  const bad = unknownPlaceholders(v);
  if (bad.length) return fill(t("adm.err.placeholder"), { names: bad.map((b) => `{${b}}`).join(", ") });
  return textProblem(t, v, 4000);
}

function check(t: T, d: Draft, taken: string[]): Problems {
  const words = splitKeywords(d.keywords);
  return only({
    code: !CODE.test(d.code.trim()) ? t("adm.err.code") : taken.includes(d.code.trim()) ? t("adm.err.codeTaken") : undefined,
    group: textProblem(t, d.group, 200),
    nameRu: textProblem(t, d.nameRu, 300),
    nameEn: textProblem(t, d.nameEn, 300),
    scriptRu: scriptProblem(t, d.scriptRu),
    scriptEn: scriptProblem(t, d.scriptEn),
    keywords: words.length > 100 ? t("adm.err.keywordsMany") : words.some((w) => [...w].length > 60) ? t("adm.err.keywordLong") : undefined,
  });
}

function splitKeywords(text: string): string[] {
  return text
    .split(/[,;\n]+/)
    .map((w) => w.trim())
    .filter(Boolean);
}

function CategoryForm(p: { initial: Category | null; groups: string[]; taken: string[]; onCancel: () => void; onSaved: (name: string) => void }) {
  const { t, lang, token } = useSession();
  const i = p.initial;
  const [d, setD] = useState<Draft>({
    code: i?.code ?? "",
    group: i?.group ?? "",
    nameRu: i?.nameRu ?? "",
    nameEn: i?.nameEn ?? "",
    deadlineClass: i?.deadlineClass ?? "MEDIUM",
    scriptRu: i?.scriptRu ?? "",
    scriptEn: i?.scriptEn ?? "",
    keywords: (i?.keywords ?? []).join(", "),
  });
  const [problems, setProblems] = useState<Problems>({});
  const save = useSave();
  const set = (k: keyof Draft) => (e: Event) => setD({ ...d, [k]: valueOf(e) });
  const pid = "cat-" + (i?.code ?? "new");
  const submit = (e: Event) => {
    e.preventDefault();
    const found = check(t, d, p.taken);
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      const input = {
        code: d.code.trim(),
        group: d.group.trim(),
        nameRu: d.nameRu.trim(),
        nameEn: d.nameEn.trim(),
        deadlineClass: d.deadlineClass,
        scriptRu: d.scriptRu.trim(),
        scriptEn: d.scriptEn.trim(),
        keywords: splitKeywords(d.keywords),
      };
      await gql(UPSERT, { input }, token);
      p.onSaved(lang === "ru" ? input.nameRu : input.nameEn);
    });
  };
  return (
    <form class="adm-form" data-testid="category-form" onSubmit={submit} noValidate>
      <h3>{i ? fill(t("adm.cat.editing"), { name: i.code }) : t("adm.cat.new")}</h3>
      <fieldset disabled={save.busy}>
        <div class="adm-grid">
          {!i && (
            <Field id={pid + "-code"} label={t("adm.code")} problem={problems.code} hint={t("adm.codeHint")}>
              {(a) => <input {...a} name="code" value={d.code} onInput={set("code")} autoComplete="off" />}
            </Field>
          )}
          <Field id={pid + "-group"} label={t("adm.cat.group")} problem={problems.group}>
            {(a) => (
              <>
                <input {...a} name="group" list={pid + "-groups"} value={d.group} onInput={set("group")} />
                <datalist id={pid + "-groups"}>
                  {p.groups.map((g) => (
                    <option value={g} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
          <Field id={pid + "-class"} label={t("adm.cat.class")}>
            {(a) => (
              <select {...a} name="deadlineClass" value={d.deadlineClass} onChange={set("deadlineClass")}>
                {CLASSES.map((c) => (
                  <option value={c}>{t("class." + c)}</option>
                ))}
              </select>
            )}
          </Field>
          <Field id={pid + "-nameRu"} label={t("adm.nameRu")} problem={problems.nameRu}>
            {(a) => <input {...a} name="nameRu" value={d.nameRu} onInput={set("nameRu")} />}
          </Field>
          <Field id={pid + "-nameEn"} label={t("adm.nameEn")} problem={problems.nameEn}>
            {(a) => <input {...a} name="nameEn" value={d.nameEn} onInput={set("nameEn")} />}
          </Field>
          <Field id={pid + "-scriptRu"} label={t("adm.cat.scriptRu")} problem={problems.scriptRu} hint={t("adm.cat.scriptHint")} wide>
            {(a) => <textarea {...a} name="scriptRu" lang="ru" rows={4} value={d.scriptRu} onInput={set("scriptRu")} />}
          </Field>
          <Field id={pid + "-scriptEn"} label={t("adm.cat.scriptEn")} problem={problems.scriptEn} hint={t("adm.cat.scriptHint")} wide>
            {(a) => <textarea {...a} name="scriptEn" lang="en" rows={4} value={d.scriptEn} onInput={set("scriptEn")} />}
          </Field>
          <Field id={pid + "-keywords"} label={t("adm.cat.keywords")} problem={problems.keywords} hint={t("adm.cat.keywordsHint")} wide>
            {(a) => <input {...a} name="keywords" value={d.keywords} onInput={set("keywords")} />}
          </Field>
        </div>
        <FormEnd busy={save.busy} error={save.error} save={t("adm.save")} onCancel={p.onCancel} testid="category" />
      </fieldset>
    </form>
  );
}

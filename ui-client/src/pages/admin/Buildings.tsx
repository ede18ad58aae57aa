/**
 * The buildings tab: find a building of the registry, change it or add one,
 * and import a CSV file of buildings while the server runs, with its
 * progress. A file is checked here for its shape first (columns, a field
 * count per line) and by the server for its values; either refusal names the
 * line, and a refused file adds nothing.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../../app";
import { ApiError, gql } from "../../lib/api";
import { fill, plural } from "../../lib/i18n";
import {
  adminError,
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

const SEARCH = `query($q: String!) { addresses(search: $q, first: 25) { id street house label district lat lon } }`;
const DISTRICTS = `query { districts }`;
const ADD = `mutation($b: BuildingInput!) { addBuilding(input: $b) { id label } }`;
const EDIT = `mutation($b: BuildingInput!) { editBuilding(input: $b) { id label } }`;
const IMPORT = `mutation($csv: String!) { importBuildings(csv: $csv) { id total done status error } }`;
const JOB = `query($id: ID!) { importJob(id: $id) { total done status error finishedAt } }`;

/** How often a running import is asked how far it got. */
const POLL_MS = 500;
/** The largest file the server takes (`MAX_IMPORT_BYTES`). */
const MAX_BYTES = 20 * 1024 * 1024;
/** The columns of a registry file, in any order. */
export const COLUMNS = ["id", "street", "house", "district", "lat", "lon"];

interface Building {
  id: string;
  street: string;
  house: string;
  label: string;
  district: string;
  lat: number;
  lon: number;
}

/** Search, add, change and import buildings. */
export function Buildings() {
  const { t, token } = useSession();
  const districts = useQuery<{ districts: string[] }>(DISTRICTS, {}).data?.districts ?? [];
  const [q, setQ] = useState("");
  const [found, setFound] = useState<Building[] | null>(null);
  const [searchError, setSearchError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const panel = usePanel<"edit" | "history">();

  const search = async (text = q) => {
    if (text.trim().length < 2) {
      setSearchError(t("adm.bld.searchShort"));
      return;
    }
    try {
      const d = await gql<{ addresses: Building[] }>(SEARCH, { q: text.trim() }, token);
      setFound(d.addresses);
      setSearchError(null);
    } catch (e) {
      setSearchError(adminError(e, t));
    }
  };
  const saved = (msg: string, label: string) => {
    setNotice(msg);
    setAdding(false);
    panel.close();
    setQ(label);
    search(label);
  };

  return (
    <>
      <Said notice={notice} />
      <section class="adm-section" aria-labelledby="adm-bsearch-h">
        <h2 id="adm-bsearch-h">{t("adm.bld.search")}</h2>
        <form
          class="inline"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            search();
          }}
        >
          <label for="building-q" class="visually-hidden">
            {t("adm.bld.search")}
          </label>
          <input id="building-q" name="q" type="search" placeholder={t("op.addressPlaceholder")} value={q} onInput={(e) => setQ(valueOf(e))} />
          <button type="submit" data-testid="building-search">
            {t("search.submit")}
          </button>
        </form>
        {searchError && (
          <p class="error" role="alert">
            {searchError}
          </p>
        )}
        {found !== null &&
          (found.length === 0 ? (
            <p class="muted" data-testid="buildings-none">
              {t("search.none")}
            </p>
          ) : (
            <Scroll label={t("adm.bld.found")}>
              <table class="adm-table" data-testid="building-table">
                <thead>
                  <tr>
                    <th scope="col">{t("op.address")}</th>
                    <th scope="col">{t("op.district")}</th>
                    <th scope="col">{t("adm.bld.point")}</th>
                    <th scope="col">{t("adm.actions")}</th>
                  </tr>
                </thead>
                {found.map((b) => (
                  <tbody data-building={b.id} key={b.id}>
                    <tr>
                      <td data-label={t("op.address")}>
                        <span data-testid="building-label">{b.label}</span> <code class="muted small">{b.id}</code>
                      </td>
                      <td data-label={t("op.district")}>{b.district}</td>
                      <td class="adm-nowrap small" data-label={t("adm.bld.point")}>
                        {b.lat.toFixed(5)}, {b.lon.toFixed(5)}
                      </td>
                      <td class="adm-row-actions">
                        <Toggle open={panel.is(b.id, "edit")} onClick={() => panel.toggle(b.id, "edit")} label={t("adm.edit")} of={b.label} testid="edit" />
                        <Toggle open={panel.is(b.id, "history")} onClick={() => panel.toggle(b.id, "history")} label={t("adm.history")} of={b.label} testid="history" />
                      </td>
                    </tr>
                    {panel.of(b.id) && (
                      <tr class="adm-detail">
                        <td colSpan={4}>
                          {panel.is(b.id, "edit") && (
                            <BuildingForm
                              initial={b}
                              districts={districts}
                              onCancel={panel.close}
                              onSaved={(label) => saved(fill(t("adm.bld.saved"), { label }), label)}
                            />
                          )}
                          {panel.is(b.id, "history") && <HistoryPanel kind="BUILDING" recordKey={b.id} />}
                        </td>
                      </tr>
                    )}
                  </tbody>
                ))}
              </table>
            </Scroll>
          ))}
        <button type="button" class="secondary" aria-expanded={adding} data-testid="new-building" onClick={() => setAdding(!adding)}>
          {t("adm.bld.new")}
        </button>
        {adding && (
          <BuildingForm
            initial={null}
            districts={districts}
            onCancel={() => setAdding(false)}
            onSaved={(label) => saved(fill(t("adm.bld.added"), { label }), label)}
          />
        )}
      </section>
      <Import />
    </>
  );
}

interface Draft {
  id: string;
  street: string;
  house: string;
  district: string;
  lat: string;
  lon: string;
}

function check(t: T, d: Draft, isNew: boolean): Problems {
  const lat = Number(d.lat.replace(",", "."));
  const lon = Number(d.lon.replace(",", "."));
  return only({
    id: isNew && d.id.trim() && (!CODE.test(d.id.trim()) || d.id.trim().startsWith("u-")) ? t("adm.err.code") : undefined,
    street: textProblem(t, d.street, 200),
    house: textProblem(t, d.house, 30),
    district: textProblem(t, d.district, 200),
    lat: d.lat.trim() === "" || !Number.isFinite(lat) || lat < -90 || lat > 90 ? t("adm.err.lat") : undefined,
    lon: d.lon.trim() === "" || !Number.isFinite(lon) || lon < -180 || lon > 180 ? t("adm.err.lon") : undefined,
  });
}

/** A new building, or an existing one's street, house, district and point. */
function BuildingForm(p: { initial: Building | null; districts: string[]; onCancel: () => void; onSaved: (label: string) => void }) {
  const { t, token } = useSession();
  const i = p.initial;
  const [d, setD] = useState<Draft>({
    id: i?.id ?? "",
    street: i?.street ?? "",
    house: i?.house ?? "",
    district: i?.district ?? "",
    lat: i ? String(i.lat) : "",
    lon: i ? String(i.lon) : "",
  });
  const [problems, setProblems] = useState<Problems>({});
  // A new building the server refuses after these checks most likely has a code already taken.
  const save = useSave(i ? {} : { VALIDATION: "adm.bld.refused" });
  const set = (k: keyof Draft) => (e: Event) => setD({ ...d, [k]: valueOf(e) });
  const pid = "bld-" + (i?.id ?? "new");
  const submit = (e: Event) => {
    e.preventDefault();
    const found = check(t, d, !i);
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      const b = {
        id: d.id.trim() || null,
        street: d.street.trim(),
        house: d.house.trim(),
        district: d.district.trim(),
        lat: Number(d.lat.replace(",", ".")),
        lon: Number(d.lon.replace(",", ".")),
      };
      if (i) {
        const r = await gql<{ editBuilding: { label: string } }>(EDIT, { b }, token);
        p.onSaved(r.editBuilding.label);
      } else {
        const r = await gql<{ addBuilding: { label: string } }>(ADD, { b }, token);
        p.onSaved(r.addBuilding.label);
      }
    });
  };
  return (
    <form class="adm-form" data-testid="building-form" onSubmit={submit} noValidate>
      <h3>{i ? fill(t("adm.bld.editing"), { label: i.label }) : t("adm.bld.new")}</h3>
      <fieldset disabled={save.busy}>
        <div class="adm-grid">
          {!i && (
            <Field id={pid + "-id"} label={t("adm.bld.code")} problem={problems.id} hint={t("adm.bld.codeHint")}>
              {(a) => <input {...a} name="id" value={d.id} onInput={set("id")} autoComplete="off" />}
            </Field>
          )}
          <Field id={pid + "-street"} label={t("addr.street")} problem={problems.street} hint={t("adm.bld.streetHint")}>
            {(a) => <input {...a} name="street" value={d.street} onInput={set("street")} />}
          </Field>
          <Field id={pid + "-house"} label={t("addr.house")} problem={problems.house}>
            {(a) => <input {...a} name="house" value={d.house} onInput={set("house")} />}
          </Field>
          <Field id={pid + "-district"} label={t("op.district")} problem={problems.district}>
            {(a) => (
              <>
                <input {...a} name="district" list={pid + "-districts"} value={d.district} onInput={set("district")} />
                <datalist id={pid + "-districts"}>
                  {p.districts.map((x) => (
                    <option value={x} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
          <Field id={pid + "-lat"} label={t("addr.lat")} problem={problems.lat}>
            {(a) => <input {...a} name="lat" inputMode="decimal" value={d.lat} onInput={set("lat")} />}
          </Field>
          <Field id={pid + "-lon"} label={t("addr.lon")} problem={problems.lon}>
            {(a) => <input {...a} name="lon" inputMode="decimal" value={d.lon} onInput={set("lon")} />}
          </Field>
        </div>
        <FormEnd busy={save.busy} error={save.error} save={i ? t("adm.save") : t("adm.bld.add")} onCancel={p.onCancel} testid="building" />
      </fieldset>
    </form>
  );
}

/** Splits one CSV line into its fields (quotes may hold commas and doubled quotes). */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** A file's shape checked before sending: the line of its first problem and what it is, or its row count. */
export function precheck(text: string): { rows: number } | { line: number; problem: "empty" | "columns" | "fields"; detail: string } {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = csvFields(lines[0] ?? "").map((h) => h.trim());
  if (!lines[0]?.trim()) return { line: 1, problem: "empty", detail: "" };
  const missing = COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) return { line: 1, problem: "columns", detail: missing.join(", ") };
  let rows = 0;
  for (let n = 1; n < lines.length; n++) {
    if (!lines[n].trim()) continue;
    const count = csvFields(lines[n]).length;
    if (count !== header.length) return { line: n + 1, problem: "fields", detail: `${count}/${header.length}` };
    rows++;
  }
  if (rows === 0) return { line: 2, problem: "empty", detail: "" };
  return { rows };
}

interface Job {
  id?: string;
  total: number;
  done: number;
  status: string;
  error: string | null;
}

/** A CSV file of buildings imported while the server runs, with a progress bar. */
function Import() {
  const { t, lang, token } = useSession();
  const [file, setFile] = useState<{ name: string; text: string; size: number } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [sending, setSending] = useState(false);
  const timer = useRef<number | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);

  const poll = (id: string) => {
    timer.current = window.setTimeout(async () => {
      try {
        const d = await gql<{ importJob: Job | null }>(JOB, { id }, token);
        if (!d.importJob) return setProblem(t("err.code.NOT_FOUND"));
        setJob({ ...d.importJob, id });
        if (d.importJob.status === "RUNNING") poll(id);
        else if (d.importJob.error) console.warn(`[import ${id}] ${d.importJob.error}`);
      } catch (e) {
        setProblem(adminError(e, t));
      }
    }, POLL_MS);
  };

  const choose = async (e: Event) => {
    const input = e.target as HTMLInputElement;
    const f = input.files?.[0];
    setProblem(null);
    setJob(null);
    if (!f) return setFile(null);
    if (f.size > MAX_BYTES) {
      setFile(null);
      return setProblem(fill(t("adm.imp.tooBig"), { mb: MAX_BYTES / 1024 / 1024 }));
    }
    setFile({ name: f.name, text: await f.text(), size: f.size });
  };

  const start = async (e: Event) => {
    e.preventDefault();
    setProblem(null);
    if (!file) return setProblem(t("adm.imp.choose"));
    const shape = precheck(file.text);
    if (!("rows" in shape)) {
      const what = fill(t("adm.imp.problem." + shape.problem), { detail: shape.detail });
      return setProblem(fill(t("adm.imp.badLine"), { line: shape.line, what }));
    }
    setSending(true);
    setJob(null);
    try {
      const d = await gql<{ importBuildings: Job & { id: string } }>(IMPORT, { csv: file.text }, token);
      setJob(d.importBuildings);
      if (d.importBuildings.status === "RUNNING") poll(d.importBuildings.id);
    } catch (err) {
      setProblem(serverProblem(t, err));
    } finally {
      setSending(false);
    }
  };

  const rows = file ? precheck(file.text) : null;
  return (
    <section class="adm-section" aria-labelledby="adm-import-h" data-testid="import">
      <h2 id="adm-import-h">{t("adm.imp.title")}</h2>
      <p class="muted small">
        {t("adm.imp.hint")} <code>{COLUMNS.join(",")}</code>
      </p>
      <form class="adm-form" onSubmit={start} noValidate>
        <fieldset disabled={sending || job?.status === "RUNNING"}>
          <div class="field">
            <label for="import-file">{t("adm.imp.file")}</label>
            <input
              id="import-file"
              name="file"
              type="file"
              accept=".csv,text/csv"
              onChange={choose}
              aria-invalid={!!problem}
              aria-describedby={problem ? "import-problem" : undefined}
            />
            {file && rows && "rows" in rows && (
              <span class="muted small" data-testid="import-rows">
                {fill(t("adm.imp.rows"), { name: file.name, n: rows.rows, plural: plural(lang, rows.rows, t("adm.plural.rows")) })}
              </span>
            )}
          </div>
          {problem && (
            <p class="error" role="alert" id="import-problem" data-testid="import-problem">
              {problem}
            </p>
          )}
          <button type="submit" data-testid="import-start">
            {sending ? t("adm.saving") : t("adm.imp.start")}
          </button>
        </fieldset>
      </form>
      {job && (
        <div class="adm-progress" data-testid="import-job" data-status={job.status} data-done={job.done} data-total={job.total}>
          <label for="import-progress">{t("adm.imp.status." + job.status)}</label>
          <progress id="import-progress" max={job.total} value={job.done}>
            {job.done}/{job.total}
          </progress>
          <span aria-live="polite" data-testid="import-count">
            {fill(t("adm.imp.count"), { done: job.done, total: job.total })}
          </span>
          {job.status === "FAILED" && (
            <p class="error" role="alert">
              {fill(t("adm.imp.failed"), { done: job.done, total: job.total })}
            </p>
          )}
        </div>
      )}
    </section>
  );
}

/**
 * The server's refusal in words. A refused row comes as VALIDATION whose
 * message names the line (`addresses, line 3: …`): the line is taken from it,
 * the words are ours.
 */
function serverProblem(t: T, e: unknown): string {
  const err = e as ApiError;
  const line = err?.code === "VALIDATION" ? /\bline (\d+)/.exec(err.message ?? "")?.[1] : undefined;
  if (line) {
    console.warn(`[VALIDATION] ${err.message}`);
    return fill(t("adm.imp.badLine"), { line, what: t("adm.imp.problem.value") });
  }
  return adminError(e, t);
}

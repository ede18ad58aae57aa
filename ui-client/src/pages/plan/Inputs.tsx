/**
 * What the plan is made from besides the request history: each
 * organization's working hours and each category's norms per request
 * (crew-hours, vehicle-hours, materials). An admin edits them here, each
 * with its history (who changed what, from what to what); a supervisor sees
 * them read-only. A saved change reloads the plan.
 */
import { useState } from "preact/hooks";
import { useSession } from "../../app";
import { gql } from "../../lib/api";
import { fill } from "../../lib/i18n";
import {
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
} from "../admin/shared";
import { formatDays, formatHours, formatNumber, parseDecimal, weekdayName, type Material } from "./common";

const LOAD = `query($lang: String!) {
  categoryNorms { categoryCode crewHours vehicleHours materials { name unit quantity } }
  workingHours { organizationId startHour endHour days aroundTheClockForEmergencies set }
  organizations { id name(lang: $lang) }
  categories { code name(lang: $lang) group }
}`;
const SET_NORM = `mutation($input: NormInput!) { setCategoryNorm(input: $input) }`;
const SET_HOURS = `mutation($org: ID!, $input: WorkingHoursInput!) { setWorkingHours(organizationId: $org, input: $input) }`;

/** The most materials one norm may list (the server's limit). */
const MAX_MATERIALS = 20;

interface Norm {
  categoryCode: string;
  crewHours: number;
  vehicleHours: number;
  materials: Material[];
}

interface Hours {
  organizationId: string;
  startHour: number;
  endHour: number;
  days: number[];
  aroundTheClockForEmergencies: boolean;
  set: boolean;
}

interface Loaded {
  categoryNorms: Norm[];
  workingHours: Hours[];
  organizations: Array<{ id: string; name: string }>;
  categories: Array<{ code: string; name: string; group: string }>;
}

type Panel = "edit" | "history";

/** The working hours and the norms, editable when `editable`. */
export function Inputs(p: { editable: boolean; onChanged: () => void }) {
  const { t, lang } = useSession();
  const { data, error, reload } = useQuery<Loaded>(LOAD, { lang }, [lang]);
  const [notice, setNotice] = useState<string | null>(null);
  const saved = (msg: string) => {
    p.onChanged();
    // Said once the table shows what was saved, never beside the old values.
    void reload().then(() => setNotice(msg));
  };
  return (
    <section class="card pl-inputs" id="plan-inputs" aria-labelledby="pl-inputs-h" data-testid="inputs" data-editable={p.editable ? "yes" : "no"}>
      <h2 id="pl-inputs-h">{t("pl.in.title")}</h2>
      <p class="small muted">{t(p.editable ? "pl.in.hintAdmin" : "pl.in.hintReadOnly")}</p>
      <Said notice={notice} error={error} testid="inputs" />
      {data === null ? (
        !error && <p class="muted">…</p>
      ) : (
        <>
          <WorkingHoursList data={data} editable={p.editable} onSaved={saved} />
          <NormList data={data} editable={p.editable} onSaved={saved} />
        </>
      )}
      {!p.editable && <p class="small muted">{t("pl.in.readOnly")}</p>}
    </section>
  );
}

/** Every organization's hours: when crews work, on which days, and whether emergencies are taken at night. */
function WorkingHoursList(p: { data: Loaded; editable: boolean; onSaved: (msg: string) => void }) {
  const { t, lang } = useSession();
  const panel = usePanel<Panel>();
  const name = (id: string) => p.data.organizations.find((o) => o.id === id)?.name ?? id;
  const cols = p.editable ? 6 : 5;
  return (
    <section class="adm-section" aria-labelledby="pl-hours-h">
      <h3 id="pl-hours-h">{t("pl.in.hours")}</h3>
      <p class="small muted">{t("pl.in.hoursHint")}</p>
      <Scroll label={fill(t("pl.tableOf"), { what: t("pl.in.hours") })}>
        <table class="adm-table pl-cards" data-testid="hours-table">
          <thead>
            <tr>
              <th scope="col">{t("pl.col.org")}</th>
              <th scope="col">{t("pl.in.time")}</th>
              <th scope="col">{t("pl.in.days")}</th>
              <th scope="col">{t("pl.in.emergencies")}</th>
              <th scope="col">{t("pl.in.source")}</th>
              {p.editable && <th scope="col">{t("pl.in.actions")}</th>}
            </tr>
          </thead>
          {p.data.workingHours.map((h) => {
            const open = panel.of(h.organizationId);
            const n = name(h.organizationId);
            return (
              <tbody data-org={h.organizationId} key={h.organizationId}>
                <tr>
                  <th scope="row">{n}</th>
                  <td data-label={t("pl.in.time")} data-testid="hours">
                    {h.startHour === 0 && h.endHour === 24 ? t("pl.in.allDay") : formatHours(h.startHour, h.endHour)}
                  </td>
                  <td data-label={t("pl.in.days")} data-testid="days" data-days={h.days.join(",")}>
                    {h.days.length === 7 ? t("pl.in.everyDay") : formatDays(h.days, lang)}
                  </td>
                  <td data-label={t("pl.in.emergencies")}>{t(h.aroundTheClockForEmergencies ? "pl.in.onCall" : "pl.in.notOnCall")}</td>
                  <td data-label={t("pl.in.source")} class="muted small">
                    {t(h.set ? "pl.in.set" : "pl.in.default")}
                  </td>
                  {p.editable && (
                    <td class="adm-row-actions">
                      <Toggle open={open === "edit"} onClick={() => panel.toggle(h.organizationId, "edit")} label={t("adm.edit")} of={n} testid="edit" />
                      <Toggle open={open === "history"} onClick={() => panel.toggle(h.organizationId, "history")} label={t("adm.history")} of={n} testid="history" />
                    </td>
                  )}
                </tr>
                {open && p.editable && (
                  <tr class="adm-detail">
                    <td colSpan={cols}>
                      {open === "edit" && (
                        <HoursForm
                          initial={h}
                          name={n}
                          onCancel={panel.close}
                          onSaved={() => {
                            panel.close();
                            p.onSaved(fill(t("pl.in.hoursSaved"), { name: n }));
                          }}
                        />
                      )}
                      {open === "history" && <HistoryPanel kind="WORKING_HOURS" recordKey={h.organizationId} />}
                    </td>
                  </tr>
                )}
              </tbody>
            );
          })}
        </table>
      </Scroll>
    </section>
  );
}

interface HoursDraft {
  startHour: number;
  endHour: number;
  days: number[];
  aroundTheClockForEmergencies: boolean;
}

const PRESETS: Array<{ key: string; hours: HoursDraft }> = [
  { key: "pl.in.preset.office", hours: { startHour: 8, endHour: 17, days: [1, 2, 3, 4, 5], aroundTheClockForEmergencies: true } },
  { key: "pl.in.preset.daily", hours: { startHour: 8, endHour: 20, days: [1, 2, 3, 4, 5, 6, 7], aroundTheClockForEmergencies: true } },
  { key: "pl.in.preset.shifts", hours: { startHour: 0, endHour: 24, days: [1, 2, 3, 4, 5, 6, 7], aroundTheClockForEmergencies: true } },
];

function checkHours(t: T, d: HoursDraft): Problems {
  return only({
    endHour: d.startHour >= d.endHour ? t("pl.in.err.order") : undefined,
    days: d.days.length === 0 ? t("pl.in.err.days") : undefined,
  });
}

/** An organization's hours as the admin sets them, with the usual patterns one click away. */
function HoursForm(p: { initial: Hours; name: string; onCancel: () => void; onSaved: () => void }) {
  const { t, lang, token } = useSession();
  const [d, setD] = useState<HoursDraft>({
    startHour: p.initial.startHour,
    endHour: p.initial.endHour,
    days: p.initial.days,
    aroundTheClockForEmergencies: p.initial.aroundTheClockForEmergencies,
  });
  const [problems, setProblems] = useState<Problems>({});
  const save = useSave();
  const pid = "hours-" + p.initial.organizationId;
  const hh = (h: number) => `${String(h).padStart(2, "0")}:00`;
  const toggleDay = (day: number) =>
    setD((cur) => ({ ...cur, days: cur.days.includes(day) ? cur.days.filter((x) => x !== day) : [...cur.days, day].sort((a, b) => a - b) }));
  const submit = (e: Event) => {
    e.preventDefault();
    const found = checkHours(t, d);
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      await gql(SET_HOURS, { org: p.initial.organizationId, input: { ...d, days: [...d.days].sort((a, b) => a - b) } }, token);
      p.onSaved();
    });
  };
  return (
    <form class="adm-form" data-testid="hours-form" onSubmit={submit} noValidate>
      <h4>{fill(t("pl.in.hoursEditing"), { name: p.name })}</h4>
      <fieldset disabled={save.busy}>
        <div class="adm-buttons">
          <span class="small muted">{t("pl.in.presets")}</span>
          {PRESETS.map((x) => (
            <button type="button" class="secondary" onClick={() => setD(x.hours)} data-testid="preset">
              {t(x.key)}
            </button>
          ))}
        </div>
        <div class="adm-grid">
          <Field id={pid + "-start"} label={t("pl.in.start")}>
            {(a) => (
              <select {...a} name="startHour" value={String(d.startHour)} onChange={(e) => setD({ ...d, startHour: Number(valueOf(e)) })}>
                {Array.from({ length: 24 }, (_, h) => (
                  <option value={String(h)}>{hh(h)}</option>
                ))}
              </select>
            )}
          </Field>
          <Field id={pid + "-end"} label={t("pl.in.end")} problem={problems.endHour}>
            {(a) => (
              <select {...a} name="endHour" value={String(d.endHour)} onChange={(e) => setD({ ...d, endHour: Number(valueOf(e)) })}>
                {Array.from({ length: 24 }, (_, i) => i + 1).map((h) => (
                  <option value={String(h)}>{hh(h)}</option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <fieldset
          class={"choices pl-days" + (problems.days ? " invalid" : "")}
          aria-describedby={problems.days ? pid + "-days-problem" : undefined}
          aria-invalid={!!problems.days}
        >
          <legend class="label">{t("pl.in.days")}</legend>
          {[1, 2, 3, 4, 5, 6, 7].map((day) => (
            <label>
              <input type="checkbox" name="day" value={day} checked={d.days.includes(day)} onChange={() => toggleDay(day)} aria-invalid={!!problems.days} />{" "}
              {weekdayName(day, lang)}
            </label>
          ))}
          {problems.days && (
            <span class="error" id={pid + "-days-problem"} data-testid="problem">
              {problems.days}
            </span>
          )}
        </fieldset>
        <label class="check">
          <input
            type="checkbox"
            name="aroundTheClockForEmergencies"
            checked={d.aroundTheClockForEmergencies}
            onChange={(e) => setD({ ...d, aroundTheClockForEmergencies: (e.target as HTMLInputElement).checked })}
          />
          {t("pl.in.onCallLabel")}
        </label>
        <FormEnd busy={save.busy} error={save.error} save={t("adm.save")} onCancel={p.onCancel} testid="hours" />
      </fieldset>
    </form>
  );
}

/** Every category's norms per request, grouped as the registry groups categories; a filter narrows them. */
function NormList(p: { data: Loaded; editable: boolean; onSaved: (msg: string) => void }) {
  const { t, lang } = useSession();
  const panel = usePanel<Panel>();
  const [filter, setFilter] = useState("");
  const [onlyMissing, setOnlyMissing] = useState(false);
  const normOf = (code: string) => p.data.categoryNorms.find((n) => n.categoryCode === code) ?? null;
  const words = filter.trim().toLowerCase();
  const shown = p.data.categories.filter(
    (c) =>
      (!words || c.name.toLowerCase().includes(words) || c.code.includes(words) || c.group.toLowerCase().includes(words)) &&
      (!onlyMissing || !normOf(c.code)),
  );
  const missing = p.data.categories.filter((c) => !normOf(c.code)).length;
  const cols = p.editable ? 5 : 4;
  return (
    <section class="adm-section" aria-labelledby="pl-norms-h">
      <h3 id="pl-norms-h">{t("pl.in.norms")}</h3>
      <p class="small muted">
        {t("pl.in.normsHint")} {fill(t("pl.in.normsMissing"), { n: missing, of: p.data.categories.length })}
      </p>
      <div class="adm-grid adm-filters">
        <div class="field">
          <label for="norm-filter">{t("pl.in.filter")}</label>
          <input id="norm-filter" type="search" name="filter" value={filter} onInput={(e) => setFilter(valueOf(e))} />
        </div>
        <label class="check adm-end">
          <input type="checkbox" checked={onlyMissing} onChange={(e) => setOnlyMissing((e.target as HTMLInputElement).checked)} data-testid="only-missing" />
          {t("pl.in.onlyMissing")}
        </label>
      </div>
      <Scroll label={fill(t("pl.tableOf"), { what: t("pl.in.norms") })}>
        <table class="adm-table pl-cards" data-testid="norms-table">
          <thead>
            <tr>
              <th scope="col">{t("pl.in.category")}</th>
              <th scope="col" class="num">
                {t("pl.in.crewHours")}
              </th>
              <th scope="col" class="num">
                {t("pl.in.vehicleHours")}
              </th>
              <th scope="col">{t("pl.in.materials")}</th>
              {p.editable && <th scope="col">{t("pl.in.actions")}</th>}
            </tr>
          </thead>
          {shown.map((c) => {
            const norm = normOf(c.code);
            const open = panel.of(c.code);
            return (
              <tbody data-category={c.code} key={c.code}>
                <tr>
                  <th scope="row">
                    {c.name}
                    <div class="muted small">{c.group}</div>
                  </th>
                  {norm ? (
                    <>
                      <td class="num" data-label={t("pl.in.crewHours")} data-testid="crew-hours">
                        {formatNumber(norm.crewHours, lang, 2)}
                      </td>
                      <td class="num" data-label={t("pl.in.vehicleHours")} data-testid="vehicle-hours">
                        {formatNumber(norm.vehicleHours, lang, 2)}
                      </td>
                      <td data-label={t("pl.in.materials")} data-testid="materials">
                        {norm.materials.length === 0
                          ? <span class="muted">{t("pl.noMaterials")}</span>
                          : norm.materials.map((m) => `${m.name} — ${formatNumber(m.quantity, lang, 3)} ${m.unit}`).join("; ")}
                      </td>
                    </>
                  ) : (
                    <td colSpan={3} class="muted" data-testid="no-norm">
                      {t("pl.in.noNorm")}
                    </td>
                  )}
                  {p.editable && (
                    <td class="adm-row-actions">
                      <Toggle open={open === "edit"} onClick={() => panel.toggle(c.code, "edit")} label={t(norm ? "adm.edit" : "pl.in.setNorm")} of={c.name} testid="edit" />
                      <Toggle open={open === "history"} onClick={() => panel.toggle(c.code, "history")} label={t("adm.history")} of={c.name} testid="history" />
                    </td>
                  )}
                </tr>
                {open && p.editable && (
                  <tr class="adm-detail">
                    <td colSpan={cols}>
                      {open === "edit" && (
                        <NormForm
                          code={c.code}
                          name={c.name}
                          initial={norm}
                          onCancel={panel.close}
                          onSaved={() => {
                            panel.close();
                            p.onSaved(fill(t("pl.in.normSaved"), { name: c.name }));
                          }}
                        />
                      )}
                      {open === "history" && <HistoryPanel kind="CATEGORY_NORM" recordKey={c.code} />}
                    </td>
                  </tr>
                )}
              </tbody>
            );
          })}
        </table>
      </Scroll>
      {shown.length === 0 && <p class="muted">{t("pl.in.noneFound")}</p>}
    </section>
  );
}

interface MaterialDraft {
  name: string;
  unit: string;
  perRequest: string;
}

interface NormDraft {
  crewHours: string;
  vehicleHours: string;
  materials: MaterialDraft[];
}

function quantityProblem(t: T, v: string): string | undefined {
  const n = parseDecimal(v);
  if (v.trim() === "") return t("err.required");
  if (n === null || n < 0) return t("pl.in.err.quantity");
  return undefined;
}

function labelProblem(t: T, v: string): string | undefined {
  const n = [...v.trim()].length;
  if (n === 0) return t("err.required");
  if (n > 200) return fill(t("adm.err.tooLong"), { n: 200 });
  return undefined;
}

function checkNorm(t: T, d: NormDraft): Problems {
  const out: Record<string, string | undefined> = {
    crewHours: quantityProblem(t, d.crewHours),
    vehicleHours: quantityProblem(t, d.vehicleHours),
  };
  d.materials.forEach((m, i) => {
    out[`m${i}-name`] = labelProblem(t, m.name);
    out[`m${i}-unit`] = labelProblem(t, m.unit);
    out[`m${i}-perRequest`] = quantityProblem(t, m.perRequest);
  });
  const keys = d.materials.map((m) => `${m.name.trim().toLowerCase()}|${m.unit.trim().toLowerCase()}`);
  keys.forEach((k, i) => {
    if (keys.indexOf(k) !== i && !out[`m${i}-name`]) out[`m${i}-name`] = t("pl.in.err.twice");
  });
  return only(out);
}

/** A category's norms as the admin enters them: hours per request and the materials one request uses. */
function NormForm(p: { code: string; name: string; initial: Norm | null; onCancel: () => void; onSaved: () => void }) {
  const { t, lang, token } = useSession();
  const num = (n: number) => formatNumber(n, lang, 6).replace(/\s/g, "");
  const [d, setD] = useState<NormDraft>({
    crewHours: p.initial ? num(p.initial.crewHours) : "",
    vehicleHours: p.initial ? num(p.initial.vehicleHours) : "",
    materials: (p.initial?.materials ?? []).map((m) => ({ name: m.name, unit: m.unit, perRequest: num(m.quantity) })),
  });
  const [problems, setProblems] = useState<Problems>({});
  const save = useSave();
  const pid = "norm-" + p.code;
  const setMaterial = (i: number, k: keyof MaterialDraft, v: string) =>
    setD((cur) => ({ ...cur, materials: cur.materials.map((m, j) => (j === i ? { ...m, [k]: v } : m)) }));
  const submit = (e: Event) => {
    e.preventDefault();
    const found = checkNorm(t, d);
    setProblems(found);
    if (Object.keys(found).length) return focusInvalid(e.currentTarget);
    save.run(async () => {
      const input = {
        categoryCode: p.code,
        crewHours: parseDecimal(d.crewHours),
        vehicleHours: parseDecimal(d.vehicleHours),
        materials: d.materials.map((m) => ({ name: m.name.trim(), unit: m.unit.trim(), perRequest: parseDecimal(m.perRequest) })),
      };
      await gql(SET_NORM, { input }, token);
      p.onSaved();
    });
  };
  return (
    <form class="adm-form" data-testid="norm-form" onSubmit={submit} noValidate>
      <h4>{fill(t("pl.in.normEditing"), { name: p.name })}</h4>
      <fieldset disabled={save.busy}>
        <div class="adm-grid">
          <Field id={pid + "-crew"} label={t("pl.in.crewHoursLong")} problem={problems.crewHours} hint={t("pl.in.crewHoursHint")}>
            {(a) => <input {...a} name="crewHours" inputMode="decimal" autoComplete="off" value={d.crewHours} onInput={(e) => setD({ ...d, crewHours: valueOf(e) })} />}
          </Field>
          <Field id={pid + "-vehicle"} label={t("pl.in.vehicleHoursLong")} problem={problems.vehicleHours} hint={t("pl.in.vehicleHoursHint")}>
            {(a) => (
              <input {...a} name="vehicleHours" inputMode="decimal" autoComplete="off" value={d.vehicleHours} onInput={(e) => setD({ ...d, vehicleHours: valueOf(e) })} />
            )}
          </Field>
        </div>
        <fieldset class="pl-material-rows">
          <legend class="label">{t("pl.in.materialsLong")}</legend>
          {d.materials.length === 0 && <p class="muted small">{t("pl.in.noMaterialsYet")}</p>}
          {d.materials.map((m, i) => (
            <div class="adm-grid pl-material-row" data-testid="material-row">
              <Field id={`${pid}-m${i}-name`} label={t("pl.in.materialName")} problem={problems[`m${i}-name`]}>
                {(a) => <input {...a} name="materialName" value={m.name} onInput={(e) => setMaterial(i, "name", valueOf(e))} />}
              </Field>
              <Field id={`${pid}-m${i}-unit`} label={t("pl.in.materialUnit")} problem={problems[`m${i}-unit`]}>
                {(a) => <input {...a} name="materialUnit" value={m.unit} onInput={(e) => setMaterial(i, "unit", valueOf(e))} />}
              </Field>
              <Field id={`${pid}-m${i}-per`} label={t("pl.in.materialPer")} problem={problems[`m${i}-perRequest`]}>
                {(a) => <input {...a} name="materialPer" inputMode="decimal" autoComplete="off" value={m.perRequest} onInput={(e) => setMaterial(i, "perRequest", valueOf(e))} />}
              </Field>
              <div class="field adm-end">
                <button
                  type="button"
                  class="secondary danger"
                  aria-label={fill(t("pl.in.removeMaterialOf"), { name: m.name || String(i + 1) })}
                  onClick={() => setD((cur) => ({ ...cur, materials: cur.materials.filter((_, j) => j !== i) }))}
                >
                  {t("pl.in.removeMaterial")}
                </button>
              </div>
            </div>
          ))}
          <button
            type="button"
            class="secondary"
            disabled={d.materials.length >= MAX_MATERIALS}
            data-testid="add-material"
            onClick={() => setD((cur) => ({ ...cur, materials: [...cur.materials, { name: "", unit: "", perRequest: "" }] }))}
          >
            {t("pl.in.addMaterial")}
          </button>
          {d.materials.length >= MAX_MATERIALS && <span class="small muted"> {fill(t("pl.in.maxMaterials"), { n: MAX_MATERIALS })}</span>}
        </fieldset>
        <FormEnd busy={save.busy} error={save.error} save={t("adm.save")} onCancel={p.onCancel} testid="norm" />
      </fieldset>
    </form>
  );
}

/**
 * The resource plan's page: the model in plain words, the target and the
 * months planned, each organization's crews (what it has against what the
 * target takes, and what its working hours allow at best), vehicles and
 * materials for the year, the monthly forecast, where moving a crew between
 * city organizations helps the city most, and the inputs below.
 *
 * Every figure is the server's (`resourcePlan`); the page adds nothing but
 * sums across organizations, so what it shows can be checked against the API
 * row by row. A change of the inputs reloads the plan.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../../app";
import { type ApiError, gql } from "../../lib/api";
import { formatShare } from "../../lib/compliance";
import { errorText } from "../../lib/errors";
import { fill, plural } from "../../lib/i18n";
import { Scroll, Toggle, usePanel } from "../admin/shared";
import { formatHourOfWeek, formatMonth, formatNumber, type Material, type OrgPlan, type ResourcePlan } from "./common";
import { Forecast } from "./Forecast";
import { Inputs } from "./Inputs";

const PLAN = `query($months: Int!, $target: Float!, $lang: String!) {
  resourcePlan(months: $months, target: $target) {
    target months warnings
    organizations {
      organizationId organization { name(lang: $lang) kind subordination }
      expectedRequests peakMonth peakArrivalsPerHour peakHourOfWeek meanServiceHours
      crewsNeeded crewsForBest crewsConfigured gap complianceConfigured complianceNeeded complianceCeiling
      crewHours vehicleHours vehiclesNeeded materials { name unit quantity } categoriesWithoutNorm
      groups { group requests meanServiceHours crewsNeeded complianceConfigured complianceCeiling }
    }
    forecast { organizationId month expectedRequests byClass { deadlineClass expectedRequests } }
    balance { fromId toId sameKind fromCrews toCrews fromBefore fromAfter toBefore toAfter overallBefore overallAfter }
  }
  categories { code name(lang: $lang) }
  workingHours { organizationId startHour endHour days }
}`;

/** The targets and plan lengths offered. */
export const TARGETS = [0.8, 0.9, 0.95];
export const MONTHS = [6, 12];

/** An organization's working hours, as far as the plan's advice needs them. */
interface HoursBrief {
  organizationId: string;
  startHour: number;
  endHour: number;
  days: number[];
}

/** Every hour of every day: longer hours cannot raise what such an organization reaches. */
const aroundTheClock = (h: HoursBrief) => h.startHour === 0 && h.endHour === 24 && h.days.length === 7;

/** The crews an organization's row asks for: those the target takes, or, out of reach, those its best takes. */
export const crewsAsked = (o: OrgPlan) => o.crewsNeeded ?? o.crewsForBest ?? 0;

/** The plan: controls, explanation, crews, resources, forecast, balance, inputs. */
export function PlanPage() {
  const { t, lang, token, me } = useSession();
  const [target, setTarget] = useState(0.9);
  const [months, setMonths] = useState(12);
  const [plan, setPlan] = useState<ResourcePlan | null>(null);
  const [categories, setCategories] = useState<Record<string, string>>({});
  const [allDay, setAllDay] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(true);
  const asked = useRef(0);

  const load = () => {
    const n = ++asked.current;
    setBusy(true);
    setError(null);
    gql<{ resourcePlan: ResourcePlan; categories: Array<{ code: string; name: string }>; workingHours: HoursBrief[] }>(
      PLAN,
      { months, target, lang },
      token,
    )
      .then((d) => {
        // An answer to an older choice is dropped: the newest one is on its way.
        if (n !== asked.current) return;
        setPlan(d.resourcePlan);
        setCategories(Object.fromEntries(d.categories.map((c) => [c.code, c.name])));
        setAllDay(new Set(d.workingHours.filter(aroundTheClock).map((h) => h.organizationId)));
      })
      .catch((e: ApiError) => n === asked.current && setError(errorText(e, t)))
      .finally(() => n === asked.current && setBusy(false));
  };
  useEffect(load, [months, target, lang, token]);

  const shown = plan && plan.target === target && plan.months.length === months;
  return (
    <div class="plan" data-target={plan?.target ?? ""} data-months={plan?.months.length ?? ""} aria-busy={busy}>
      <section class="card">
        <h1>{t("pl.title")}</h1>
        <p class="pl-lead">{t("pl.lead")}</p>
        <div class="an-controls">
          <fieldset class="choices">
            <legend class="label">{t("pl.target")}</legend>
            {TARGETS.map((v) => (
              <label>
                <input type="radio" name="target" value={v} checked={target === v} onChange={() => setTarget(v)} data-testid={`target-${v}`} />{" "}
                {formatShare(v, lang)}
              </label>
            ))}
          </fieldset>
          <fieldset class="choices">
            <legend class="label">{t("pl.months")}</legend>
            {MONTHS.map((m) => (
              <label>
                <input type="radio" name="months" value={m} checked={months === m} onChange={() => setMonths(m)} data-testid={`months-${m}`} />{" "}
                {m} {plural(lang, m, t("pl.plural.months"))}
              </label>
            ))}
          </fieldset>
          {plan && plan.months.length > 0 && (
            <p class="muted" data-testid="plan-period">
              {fill(t("pl.periodIs"), { from: formatMonth(plan.months[0], lang), to: formatMonth(plan.months[plan.months.length - 1], lang) })}
            </p>
          )}
          {busy && plan && (
            <p class="muted" role="status">
              {t("pl.recounting")}
            </p>
          )}
        </div>
        <Model target={target} />
      </section>
      {error && (
        <p class="error" role="alert" data-testid="plan-error">
          {error}
        </p>
      )}
      {!plan && busy && <p class="muted">{t("pl.loading")}</p>}
      {plan && (
        <div class={shown ? "" : "pl-stale"} data-testid="plan-body" data-ready={shown && !busy ? "yes" : "no"}>
          {plan.warnings.length > 0 && (
            <section class="card warn-box" data-testid="warnings" aria-labelledby="pl-warn-h">
              <h2 id="pl-warn-h">{t("pl.warnings")}</h2>
              <ul>
                {plan.warnings.map((w) => (
                  <li lang="en">{w}</li>
                ))}
              </ul>
            </section>
          )}
          <Summary plan={plan} categories={categories} />
          <Crews plan={plan} categories={categories} allDay={allDay} />
          <Resources plan={plan} />
          <Forecast plan={plan} />
          <Balance plan={plan} />
        </div>
      )}
      <Inputs editable={me?.role === "ADMIN"} onChanged={load} />
    </div>
  );
}

/** The model in plain words (docs/capacity-model.md, in short). */
function Model(p: { target: number }) {
  const { t, lang } = useSession();
  const share = formatShare(p.target, lang);
  return (
    <details class="formula pl-model" data-testid="model">
      <summary>
        <strong>{t("pl.model.title")}</strong>
      </summary>
      <ol>
        <li>{t("pl.model.forecast")}</li>
        <li>{t("pl.model.service")}</li>
        <li>{t("pl.model.hours")}</li>
        <li>{fill(t("pl.model.queue"), { target: share })}</li>
        <li>{t("pl.model.resources")}</li>
        <li>{t("pl.model.balance")}</li>
        <li>{t("pl.model.check")}</li>
      </ol>
      <p class="small">
        <strong>{t("pl.model.limitsTitle")}</strong> {t("pl.model.limits")}
      </p>
    </details>
  );
}

/** The city in a few numbers: crews, where they are short, where the target is out of reach, vehicles, norms missing. */
function Summary(p: { plan: ResourcePlan; categories: Record<string, string> }) {
  const { t, lang } = useSession();
  const orgs = p.plan.organizations;
  const have = orgs.reduce((s, o) => s + o.crewsConfigured, 0);
  const asked = orgs.reduce((s, o) => s + crewsAsked(o), 0);
  const short = orgs.filter((o) => crewsAsked(o) > o.crewsConfigured);
  const missing = short.reduce((s, o) => s + crewsAsked(o) - o.crewsConfigured, 0);
  const unreachable = orgs.filter((o) => o.crewsNeeded === null && o.expectedRequests > 0);
  const vehicles = orgs.reduce((s, o) => s + o.vehiclesNeeded, 0);
  const requests = orgs.reduce((s, o) => s + o.expectedRequests, 0);
  const withoutNorm = [...new Set(orgs.flatMap((o) => o.categoriesWithoutNorm))].map((c) => p.categories[c] ?? c).sort();
  const SHOWN = 12;
  return (
    <section class="card" aria-labelledby="pl-summary-h" data-testid="summary">
      <h2 id="pl-summary-h">{t("pl.summary")}</h2>
      <dl class="pl-totals">
        <div>
          <dt>{t("pl.sum.requests")}</dt>
          <dd data-testid="total-requests">{formatNumber(Math.round(requests), lang, 0)}</dd>
        </div>
        <div>
          <dt>{t("pl.sum.crewsHave")}</dt>
          <dd data-testid="total-crews">{have}</dd>
        </div>
        <div>
          <dt>{fill(t(unreachable.length ? "pl.sum.crewsAskedBest" : "pl.sum.crewsNeeded"), { target: formatShare(p.plan.target, lang) })}</dt>
          <dd data-testid="total-needed">{asked}</dd>
        </div>
        <div>
          <dt>{t("pl.sum.short")}</dt>
          <dd class={short.length ? "bad" : "ok"} data-testid="total-short">
            {short.length
              ? fill(t("pl.sum.shortIn"), { crews: missing, plural: plural(lang, missing, t("pl.plural.crews")), n: short.length })
              : t("pl.sum.noneShort")}
          </dd>
        </div>
        {unreachable.length > 0 && (
          <div>
            <dt>{fill(t("pl.sum.unreachable"), { target: formatShare(p.plan.target, lang) })}</dt>
            <dd class="bad" data-testid="total-unreachable">
              {fill(t("pl.sum.unreachableIn"), { n: unreachable.length, of: orgs.length })}
            </dd>
          </div>
        )}
        <div>
          <dt>{t("pl.sum.vehicles")}</dt>
          <dd data-testid="total-vehicles" data-value={vehicles}>
            {vehicles}
          </dd>
        </div>
      </dl>
      {unreachable.length > 0 && <p class="small">{t("pl.sum.unreachableHint")}</p>}
      {withoutNorm.length > 0 && (
        <p class="warn-box small" data-testid="without-norm">
          {fill(t("pl.withoutNorm"), { n: withoutNorm.length })} {withoutNorm.slice(0, SHOWN).join(", ")}
          {withoutNorm.length > SHOWN ? ` ${fill(t("pl.andMore"), { n: withoutNorm.length - SHOWN })}` : "."}
        </p>
      )}
    </section>
  );
}

/** The gap in words: short (red), spare, or just right; out of reach, against the crews its best takes. */
function Gap(p: { o: OrgPlan }) {
  const { t, lang } = useSession();
  const o = p.o;
  const crews = (n: number) => plural(lang, n, t("pl.plural.crews"));
  if (o.crewsNeeded === null) {
    if (o.crewsForBest === null) return <span class="muted">—</span>;
    const g = o.crewsForBest - o.crewsConfigured;
    return g > 0 ? (
      <span class="pl-gap short" data-gap={g}>
        {fill(t("pl.gap.shortOfBest"), { n: g, plural: crews(g) })}
      </span>
    ) : (
      <span class="pl-gap even" data-gap={g}>
        {t("pl.gap.enoughForBest")}
      </span>
    );
  }
  const g = o.gap ?? o.crewsNeeded - o.crewsConfigured;
  if (g > 0)
    return (
      <span class="pl-gap short" data-gap={g}>
        {fill(t("pl.gap.short"), { n: g, plural: crews(g) })}
      </span>
    );
  if (g < 0)
    return (
      <span class="pl-gap spare" data-gap={g}>
        {fill(t("pl.gap.spare"), { n: -g, plural: crews(-g) })}
      </span>
    );
  return (
    <span class="pl-gap even" data-gap={0}>
      {t("pl.gap.even")}
    </span>
  );
}

/** A predicted share on time, red below the target. */
function Share(p: { v: number | null; target: number; testid: string }) {
  const { lang } = useSession();
  const below = p.v !== null && p.v < p.target;
  return (
    <span class={"share" + (p.v === null ? " muted" : below ? " bad" : " ok")} data-testid={p.testid} data-value={p.v ?? ""}>
      {formatShare(p.v, lang)}
    </span>
  );
}

/** Each organization's crews: what it has, what the target takes, what its hours allow. */
function Crews(p: { plan: ResourcePlan; categories: Record<string, string>; allDay: Set<string> }) {
  const { t, lang } = useSession();
  const panel = usePanel<"detail">();
  const target = p.plan.target;
  return (
    <section class="card" aria-labelledby="pl-crews-h">
      <h2 id="pl-crews-h">{t("pl.crews.title")}</h2>
      <p class="small muted">{t("pl.crews.hint")}</p>
      <Scroll label={fill(t("pl.tableOf"), { what: t("pl.crews.title") })}>
        <table class="adm-table pl-cards pl-table" data-testid="crews-table">
          <thead>
            <tr>
              <th scope="col">{t("pl.col.org")}</th>
              <th scope="col" class="num">
                {t("pl.col.requests")}
              </th>
              <th scope="col" class="num">
                {t("pl.col.have")}
              </th>
              <th scope="col" class="num">
                {t("pl.col.needed")}
              </th>
              <th scope="col">{t("pl.col.gap")}</th>
              <th scope="col" class="num">
                {t("pl.col.withHave")}
              </th>
              <th scope="col" class="num">
                {t("pl.col.withNeeded")}
              </th>
              <th scope="col" class="num">
                {t("pl.col.vehicles")}
              </th>
              <th scope="col">
                <span class="visually-hidden">{t("pl.col.more")}</span>
              </th>
            </tr>
          </thead>
          {p.plan.organizations.map((o) => {
            const name = o.organization?.name ?? o.organizationId;
            const open = panel.is(o.organizationId, "detail");
            const unreachable = o.crewsNeeded === null && o.expectedRequests > 0;
            return (
              <tbody data-org={o.organizationId} key={o.organizationId} class={unreachable ? "pl-unreachable" : ""}>
                <tr>
                  <th scope="row">
                    <strong data-testid="org-name">{name}</strong>
                    {o.organization && <div class="muted small">{t("pl.sub." + o.organization.subordination)}</div>}
                  </th>
                  <td class="num" data-label={t("pl.col.requests")} data-testid="expected">
                    {formatNumber(Math.round(o.expectedRequests), lang, 0)}
                  </td>
                  <td class="num" data-label={t("pl.col.have")} data-testid="crews-configured">
                    {o.crewsConfigured}
                  </td>
                  <td class="num" data-label={t("pl.col.needed")} data-testid="crews-needed" data-value={o.crewsNeeded ?? ""}>
                    {o.crewsNeeded ?? (unreachable ? <span class="bad">{t("pl.unreachableShort")}</span> : "—")}
                  </td>
                  <td data-label={t("pl.col.gap")} data-testid="gap">
                    <Gap o={o} />
                  </td>
                  <td class="num" data-label={t("pl.col.withHave")}>
                    <Share v={o.complianceConfigured} target={target} testid="compliance-configured" />
                  </td>
                  <td class="num" data-label={t("pl.col.withNeeded")}>
                    <Share v={o.complianceNeeded} target={target} testid="compliance-needed" />
                  </td>
                  <td class="num" data-label={t("pl.col.vehicles")} data-testid="vehicles">
                    {o.vehiclesNeeded}
                  </td>
                  <td class="adm-row-actions">
                    <Toggle open={open} onClick={() => panel.toggle(o.organizationId, "detail")} label={t("pl.more")} of={name} testid="more" controls={`pl-detail-${o.organizationId}`} />
                  </td>
                </tr>
                {unreachable && (
                  <tr class="pl-note">
                    <td colSpan={9} data-testid="ceiling-note">
                      <Unreachable o={o} target={target} allDay={p.allDay.has(o.organizationId)} />
                    </td>
                  </tr>
                )}
                {open && (
                  <tr class="adm-detail" id={`pl-detail-${o.organizationId}`}>
                    <td colSpan={9}>
                      <OrgDetail o={o} target={target} categories={p.categories} />
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

/** Why no number of crews is enough: the best reachable, which queue limits it and why, the crews that best takes, and what would raise it. */
function Unreachable(p: { o: OrgPlan; target: number; allDay: boolean }) {
  const { t, lang } = useSession();
  const best = p.o.crewsForBest;
  const limiting = p.o.groups.filter((g) => g.crewsNeeded === null);
  return (
    <p class="pl-ceiling">
      <strong>{fill(t("pl.unreachable"), { target: formatShare(p.target, lang), ceiling: formatShare(p.o.complianceCeiling, lang) })}</strong>{" "}
      {limiting.length > 0 &&
        fill(t("pl.limitedBy"), {
          groups: limiting
            .map((g) =>
              fill(t("pl.limitedGroup"), {
                group: t("pl.group." + g.group),
                ceiling: formatShare(g.complianceCeiling, lang),
                h: formatNumber(g.meanServiceHours, lang, 1),
              }),
            )
            .join("; "),
        })}{" "}
      {best !== null && (
        <span data-testid="crews-for-best" data-value={best}>
          {fill(t("pl.forBest"), { n: best, plural: plural(lang, best, t("pl.plural.crews")), have: p.o.crewsConfigured })}
        </span>
      )}{" "}
      {t(p.allDay ? "pl.raise.allDay" : "pl.raise.hours")}
    </p>
  );
}

/** One organization in detail: its busiest month, each queue, the work and what it takes. */
function OrgDetail(p: { o: OrgPlan; target: number; categories: Record<string, string> }) {
  const { t, lang } = useSession();
  const o = p.o;
  return (
    <div class="pl-detail" data-testid="org-detail">
      <p>
        {o.peakMonth
          ? fill(t("pl.peak"), {
              month: formatMonth(o.peakMonth, lang),
              rate: formatNumber(o.peakArrivalsPerHour, lang, 2),
              hour: o.peakHourOfWeek === null ? "—" : formatHourOfWeek(o.peakHourOfWeek, lang),
            })
          : t("pl.noPeak")}{" "}
        {fill(t("pl.meanService"), { h: formatNumber(o.meanServiceHours, lang, 1) })}
      </p>
      {o.groups.length > 0 && (
        <Scroll label={t("pl.groups.caption")}>
        <table class="figures pl-groups" data-testid="groups">
          <caption class="small muted">{t("pl.groups.caption")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("pl.groups.group")}</th>
              <th scope="col" class="num">
                {t("pl.groups.requests")}
              </th>
              <th scope="col" class="num">
                {t("pl.groups.service")}
              </th>
              <th scope="col" class="num">
                {t("pl.groups.needed")}
              </th>
              <th scope="col" class="num">
                {t("pl.groups.withHave")}
              </th>
              <th scope="col" class="num">
                {t("pl.groups.ceiling")}
              </th>
            </tr>
          </thead>
          <tbody>
            {o.groups.map((g) => (
              <tr data-group={g.group}>
                <th scope="row">{t("pl.group." + g.group)}</th>
                <td class="num">{formatNumber(g.requests, lang, 0)}</td>
                <td class="num">{formatNumber(g.meanServiceHours, lang, 1)}</td>
                <td class="num">{g.crewsNeeded ?? <span class="bad">{t("pl.unreachableShort")}</span>}</td>
                <td class="num">
                  <Share v={g.complianceConfigured} target={p.target} testid="group-configured" />
                </td>
                <td class="num">{formatShare(g.complianceCeiling, lang)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </Scroll>
      )}
      <p>
        {fill(t("pl.work"), {
          crewHours: formatNumber(o.crewHours, lang, 0),
          vehicleHours: formatNumber(o.vehicleHours, lang, 0),
          vehicles: o.vehiclesNeeded,
        })}
      </p>
      <MaterialList materials={o.materials} />
      {o.categoriesWithoutNorm.length > 0 && (
        <p class="small warn-box">
          {t("pl.orgWithoutNorm")} {o.categoriesWithoutNorm.map((c) => p.categories[c] ?? c).join(", ")}
        </p>
      )}
    </div>
  );
}

/** Materials as `name — quantity unit`, or a word that there are none. */
function MaterialList(p: { materials: Material[]; inline?: boolean }) {
  const { t, lang } = useSession();
  if (p.materials.length === 0) return <span class="muted">{t("pl.noMaterials")}</span>;
  return (
    <ul class={"pl-materials" + (p.inline ? " inline" : "")}>
      {p.materials.map((m) => (
        <li data-material={`${m.name}|${m.unit}`} data-value={m.quantity}>
          {m.name} — {formatNumber(m.quantity, lang, 2)} {m.unit}
        </li>
      ))}
    </ul>
  );
}

/** Materials of every organization summed by name and unit, largest first. */
export function sumMaterials(orgs: OrgPlan[]): Material[] {
  const by = new Map<string, Material>();
  for (const o of orgs)
    for (const m of o.materials) {
      const k = `${m.name}|${m.unit}`;
      const had = by.get(k);
      by.set(k, { ...m, quantity: (had?.quantity ?? 0) + m.quantity });
    }
  return [...by.values()].sort((a, b) => a.name.localeCompare(b.name) || a.unit.localeCompare(b.unit));
}

/** Vehicles, hours of work and materials for the planned months: per organization and for the city. */
function Resources(p: { plan: ResourcePlan }) {
  const { t, lang } = useSession();
  const orgs = p.plan.organizations;
  const totals = sumMaterials(orgs);
  const sum = (f: (o: OrgPlan) => number) => orgs.reduce((s, o) => s + f(o), 0);
  return (
    <section class="card" aria-labelledby="pl-res-h" data-testid="resources">
      <h2 id="pl-res-h">{fill(t("pl.res.title"), { n: p.plan.months.length, plural: plural(lang, p.plan.months.length, t("pl.plural.months")) })}</h2>
      <p class="small muted">{t("pl.res.hint")}</p>
      <div class="pl-res">
        <div>
          <h3>{t("pl.res.city")}</h3>
          <dl class="pl-totals">
            <div>
              <dt>{t("pl.res.vehicles")}</dt>
              <dd data-testid="city-vehicles" data-value={sum((o) => o.vehiclesNeeded)}>
                {sum((o) => o.vehiclesNeeded)}
              </dd>
            </div>
            <div>
              <dt>{t("pl.res.vehicleHours")}</dt>
              <dd data-testid="city-vehicle-hours" data-value={sum((o) => o.vehicleHours)}>
                {formatNumber(sum((o) => o.vehicleHours), lang, 0)}
              </dd>
            </div>
            <div>
              <dt>{t("pl.res.crewHours")}</dt>
              <dd data-testid="city-crew-hours" data-value={sum((o) => o.crewHours)}>
                {formatNumber(sum((o) => o.crewHours), lang, 0)}
              </dd>
            </div>
          </dl>
          <h3>{t("pl.res.materials")}</h3>
          {totals.length === 0 ? (
            <p class="muted" data-testid="city-materials-none">
              {t("pl.noMaterials")}
            </p>
          ) : (
            <table class="figures pl-city-materials" data-testid="city-materials">
              <thead>
                <tr>
                  <th scope="col">{t("pl.res.material")}</th>
                  <th scope="col" class="num">
                    {t("pl.res.quantity")}
                  </th>
                  <th scope="col">{t("pl.res.unit")}</th>
                </tr>
              </thead>
              <tbody>
                {totals.map((m) => (
                  <tr data-material={`${m.name}|${m.unit}`} data-value={m.quantity}>
                    <th scope="row">{m.name}</th>
                    <td class="num">{formatNumber(m.quantity, lang, 2)}</td>
                    <td>{m.unit}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h3>{t("pl.res.byOrg")}</h3>
          <Scroll label={fill(t("pl.tableOf"), { what: t("pl.res.byOrg") })}>
            <table class="adm-table pl-cards pl-table" data-testid="resources-table">
              <thead>
                <tr>
                  <th scope="col">{t("pl.col.org")}</th>
                  <th scope="col" class="num">
                    {t("pl.col.vehicles")}
                  </th>
                  <th scope="col" class="num">
                    {t("pl.res.vehicleHoursShort")}
                  </th>
                  <th scope="col" class="num">
                    {t("pl.res.crewHoursShort")}
                  </th>
                  <th scope="col">{t("pl.res.materials")}</th>
                </tr>
              </thead>
              {orgs.map((o) => (
                <tbody data-org={o.organizationId}>
                  <tr>
                    <th scope="row">{o.organization?.name ?? o.organizationId}</th>
                    <td class="num" data-label={t("pl.col.vehicles")} data-testid="vehicles">
                      {o.vehiclesNeeded}
                    </td>
                    <td class="num" data-label={t("pl.res.vehicleHoursShort")} data-testid="vehicle-hours" data-value={o.vehicleHours}>
                      {formatNumber(o.vehicleHours, lang, 0)}
                    </td>
                    <td class="num" data-label={t("pl.res.crewHoursShort")} data-testid="crew-hours" data-value={o.crewHours}>
                      {formatNumber(o.crewHours, lang, 0)}
                    </td>
                    <td data-label={t("pl.res.materials")}>
                      <MaterialList materials={o.materials} inline />
                    </td>
                  </tr>
                </tbody>
              ))}
            </table>
          </Scroll>
        </div>
      </div>
    </section>
  );
}

/** Crew moves between city organizations that raise the city's share on time, best first. */
function Balance(p: { plan: ResourcePlan }) {
  const { t, lang } = useSession();
  const name = (id: string) => p.plan.organizations.find((o) => o.organizationId === id)?.organization?.name ?? id;
  const pct = (v: number) => formatShare(v, lang);
  return (
    <section class="card" aria-labelledby="pl-balance-h" data-testid="balance">
      <h2 id="pl-balance-h">{t("pl.balance.title")}</h2>
      <p class="small muted">{t("pl.balance.hint")}</p>
      {p.plan.balance.length === 0 ? (
        <p class="muted" data-testid="balance-none">
          {t("pl.balance.none")}
        </p>
      ) : (
        <ol class="pl-balance">
          {p.plan.balance.map((b) => (
            <li data-from={b.fromId} data-to={b.toId}>
              <div>
                {fill(t("pl.balance.move"), { from: name(b.fromId), to: name(b.toId) })}{" "}
                <strong class="pl-overall" data-testid="overall">
                  {fill(t("pl.balance.overall"), { before: pct(b.overallBefore), after: pct(b.overallAfter) })}
                </strong>
              </div>
              <div class="small muted">
                {fill(t("pl.balance.detail"), {
                  from: name(b.fromId),
                  fromCrews: b.fromCrews,
                  fromLeft: b.fromCrews - 1,
                  fromBefore: pct(b.fromBefore),
                  fromAfter: pct(b.fromAfter),
                  to: name(b.toId),
                  toCrews: b.toCrews,
                  toNow: b.toCrews + 1,
                  toBefore: pct(b.toBefore),
                  toAfter: pct(b.toAfter),
                })}{" "}
                {t(b.sameKind ? "pl.balance.sameKind" : "pl.balance.otherKind")}
              </div>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

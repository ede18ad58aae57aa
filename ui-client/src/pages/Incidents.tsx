import L from "leaflet";
import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../app";
import { BriefList } from "../components/BriefList";
import { ApiError, gql } from "../lib/api";
import { errorText } from "../lib/errors";
import { fill, kindLabel, plural } from "../lib/i18n";
import { BRIEF, type Brief } from "../lib/requests";
import { formatDateTime } from "../lib/time";

const FIELDS = `id title kind source status editable startedAt expectedEndAt areaDescription
  organization { id name(lang: $lang) } addressIds streets streetRanges { street houses } polygons`;
const LIST = `query($lang: String!) { incidents(status: ACTIVE, first: 30) { edges { node { ${FIELDS} } } } }`;
const LINKED = `query($id: ID!, $lang: String!) { incident(id: $id) { linkedRequests(first: 50) { ${BRIEF} } } }`;
const ORGS = `query($lang: String!) { organizations { id name(lang: $lang) } }`;
const CREATE = `mutation($input: IncidentInput!, $lang: String!) { createIncident(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: IncidentInput!, $lang: String!) { updateIncident(id: $id, input: $input) { ${FIELDS} } }`;
const END = `mutation($id: ID!, $text: String!) { endIncident(id: $id, resolution: $text) { id status } }`;
const LINK_COVERED = `mutation($id: ID!) { linkCoveredRequests(incidentId: $id) }`;

const KINDS = ["power", "water", "heating", "gas", "sewer", "roads", "other"];

interface IncidentRow {
  id: string;
  title: string;
  kind: string;
  source: string;
  status: string;
  editable: boolean;
  startedAt: string;
  expectedEndAt: string | null;
  areaDescription: string | null;
  organization: { id: string; name: string } | null;
  addressIds: string[];
  streets: string[];
  streetRanges: Array<{ street: string; houses: string }>;
  polygons: number[][][];
}

interface Draft {
  title: string;
  kind: string;
  organizationId: string;
  expectedEnd: string;
  ranges: Array<{ street: string; houses: string }>;
  polygon: Array<[number, number]>;
  areaDescription: string;
}

const emptyDraft = (): Draft => ({
  title: "",
  kind: "power",
  organizationId: "",
  expectedEnd: "",
  ranges: [{ street: "", houses: "" }],
  polygon: [],
  areaDescription: "",
});

/** `2026-11-30T18:00` typed in city time (UTC+3, no daylight saving) as an instant. */
function cityInstant(local: string): string | null {
  return local ? new Date(`${local}:00+03:00`).toISOString() : null;
}

function cityLocal(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(Date.parse(iso) + 3 * 3600_000);
  return d.toISOString().slice(0, 16);
}

/** The incident desk: enter, revise and end incidents, see and link their requests. */
export function Incidents() {
  const { t, lang, token } = useSession();
  const [rows, setRows] = useState<IncidentRow[] | null>(null);
  const [orgs, setOrgs] = useState<Array<{ id: string; name: string }>>([]);
  const [editing, setEditing] = useState<IncidentRow | "new" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = () =>
    gql<{ incidents: { edges: Array<{ node: IncidentRow }> } }>(LIST, { lang }, token)
      .then((d) => setRows(d.incidents.edges.map((e) => e.node)))
      .catch((e: ApiError) => setError(errorText(e, t)));
  useEffect(() => {
    load();
    gql<{ organizations: Array<{ id: string; name: string }> }>(ORGS, { lang }, token)
      .then((d) => setOrgs(d.organizations))
      .catch(() => {});
  }, [lang]);

  return (
    <div class="incident-desk">
      <section class="card">
        <h1>{t("inc.title")}</h1>
        {notice && (
          <p class="notice" role="status" data-testid="notice">
            {notice}
          </p>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="button" data-testid="new-incident" onClick={() => setEditing("new")}>
          {t("inc.new")}
        </button>
        {editing && (
          <IncidentForm
            key={editing === "new" ? "new" : editing.id}
            initial={editing === "new" ? null : editing}
            orgs={orgs}
            onCancel={() => setEditing(null)}
            onSaved={(i) => {
              setEditing(null);
              setNotice(fill(t("inc.saved"), { title: i.title }));
              load();
            }}
          />
        )}
        {rows === null ? (
          <p class="muted">…</p>
        ) : rows.length === 0 ? (
          <p class="muted">{t("inc.none")}</p>
        ) : (
          <ul class="incident-list" data-testid="incident-list">
            {rows.map((i) => (
              <IncidentItem
                key={i.id}
                incident={i}
                onEdit={() => setEditing(i)}
                onChanged={(msg) => {
                  setNotice(msg);
                  load();
                }}
                onError={setError}
              />
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function areaSummary(i: IncidentRow, t: (k: string) => string): string {
  const parts = [
    ...i.streetRanges.map((r) => (r.houses ? `${r.street}: ${r.houses}` : r.street)),
    ...i.streets,
    i.addressIds.length ? `${t("inc.buildings")}: ${i.addressIds.length}` : "",
    i.polygons.length ? t("inc.polygon") : "",
    i.areaDescription ?? "",
  ];
  return parts.filter(Boolean).join("; ");
}

function IncidentItem(p: { incident: IncidentRow; onEdit: () => void; onChanged: (msg: string) => void; onError: (e: string) => void }) {
  const { t, lang, token } = useSession();
  const i = p.incident;
  const [linked, setLinked] = useState<Brief[] | null>(null);
  const [ending, setEnding] = useState(false);
  const [resolution, setResolution] = useState("");
  const showLinked = () =>
    gql<{ incident: { linkedRequests: Brief[] } | null }>(LINKED, { id: i.id, lang }, token)
      .then((d) => setLinked(d.incident?.linkedRequests ?? []))
      .catch((e: ApiError) => p.onError(errorText(e, t)));
  const linkCovered = async () => {
    try {
      const d = await gql<{ linkCoveredRequests: number }>(LINK_COVERED, { id: i.id }, token);
      const n = d.linkCoveredRequests;
      p.onChanged(fill(t("inc.linkedN"), { n, plural: plural(lang, n, t("plural.requests")), title: i.title }));
      showLinked();
    } catch (e) {
      p.onError(errorText(e, t));
    }
  };
  const end = async (e: Event) => {
    e.preventDefault();
    if (resolution.trim().length < 5) return p.onError(fill(t("err.reasonShort"), { n: 5 }));
    try {
      await gql(END, { id: i.id, text: resolution.trim() }, token);
      p.onChanged(fill(t("inc.ended"), { title: i.title }));
    } catch (err) {
      p.onError(errorText(err, t));
    }
  };
  return (
    <li class="incident-item" data-id={i.id}>
      <div>
        <strong>{i.title}</strong> <span class="class-tag">{kindLabel(t, i.kind)}</span>{" "}
        <span class="muted small" data-testid="source">
          {i.source === "manual" ? t("inc.manual") : `${t("inc.feed")}: ${i.source}`}
        </span>
      </div>
      <div class="muted small">
        {i.organization?.name ?? t("op.unrouted")} · {t("inc.since")} {formatDateTime(i.startedAt, lang)}
        {i.expectedEndAt && ` · ${t("hints.until")} ${formatDateTime(i.expectedEndAt, lang)}`}
      </div>
      <div data-testid="area">{areaSummary(i, t)}</div>
      <div class="action-buttons">
        {i.editable && (
          <button type="button" class="secondary" data-testid="edit" onClick={p.onEdit}>
            {t("inc.edit")}
          </button>
        )}
        <button type="button" class="secondary" data-testid="link-covered" onClick={linkCovered}>
          {t("inc.linkCovered")}
        </button>
        <button type="button" class="secondary" data-testid="show-linked" onClick={showLinked}>
          {t("inc.showLinked")}
        </button>
        <button type="button" class="secondary" data-testid="end" aria-expanded={ending} onClick={() => setEnding(!ending)}>
          {t("inc.end")}
        </button>
      </div>
      {ending && (
        <form class="inline" onSubmit={end}>
          <label class="visually-hidden" for={`resolution-${i.id}`}>
            {t("inc.resolution")}
          </label>
          <input
            id={`resolution-${i.id}`}
            name="resolution"
            placeholder={t("inc.resolution")}
            value={resolution}
            onInput={(e) => setResolution((e.target as HTMLInputElement).value)}
          />
          <button type="submit">{t("inc.endConfirm")}</button>
        </form>
      )}
      {linked !== null &&
        (linked.length === 0 ? <p class="muted">{t("inc.noLinked")}</p> : <BriefList rows={linked} testid="linked-requests" />)}
    </li>
  );
}

function IncidentForm(p: {
  initial: IncidentRow | null;
  orgs: Array<{ id: string; name: string }>;
  onCancel: () => void;
  onSaved: (i: IncidentRow) => void;
}) {
  const { t, lang, token } = useSession();
  const [d, setD] = useState<Draft>(() =>
    p.initial
      ? {
          title: p.initial.title,
          kind: p.initial.kind,
          organizationId: p.initial.organization?.id ?? "",
          expectedEnd: cityLocal(p.initial.expectedEndAt),
          ranges: [...p.initial.streetRanges, ...p.initial.streets.map((s) => ({ street: s, houses: "" }))].concat(
            p.initial.streetRanges.length + p.initial.streets.length ? [] : [{ street: "", houses: "" }],
          ),
          polygon: (p.initial.polygons[0] ?? []).map((pt) => [pt[0], pt[1]] as [number, number]),
          areaDescription: p.initial.areaDescription ?? "",
        }
      : emptyDraft(),
  );
  const [problem, setProblem] = useState<string | null>(null);
  const mapEl = useRef<HTMLDivElement>(null);
  const shape = useRef<L.Polygon | null>(null);

  // Clicks on the map add the polygon's corners.
  useEffect(() => {
    if (!mapEl.current) return;
    let m: L.Map | null = null;
    fetch("/public/config.json")
      .then((r) => r.json())
      .then((config: { center: [number, number]; zoom: number; tileUrl: string; tileAttribution: string }) => {
        if (!mapEl.current) return;
        m = L.map(mapEl.current, { center: config.center, zoom: config.zoom });
        if (config.tileUrl) L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(m);
        shape.current = L.polygon(d.polygon, { color: "#b91c1c" }).addTo(m);
        m.on("click", (e: L.LeafletMouseEvent) => setD((x) => ({ ...x, polygon: [...x.polygon, [e.latlng.lat, e.latlng.lng]] })));
      })
      .catch(() => {});
    return () => m?.remove();
  }, []);
  useEffect(() => {
    shape.current?.setLatLngs(d.polygon);
  }, [d.polygon]);

  const setRange = (n: number, patch: Partial<{ street: string; houses: string }>) =>
    setD((x) => ({ ...x, ranges: x.ranges.map((r, i) => (i === n ? { ...r, ...patch } : r)) }));

  const save = async (e: Event) => {
    e.preventDefault();
    const ranges = d.ranges.filter((r) => r.street.trim());
    if (!d.title.trim()) return setProblem(t("inc.needTitle"));
    if (ranges.length === 0 && d.polygon.length < 3 && !d.areaDescription.trim()) return setProblem(t("inc.needArea"));
    if (d.polygon.length > 0 && d.polygon.length < 3) return setProblem(t("inc.polygonShort"));
    const input = {
      title: d.title.trim(),
      kind: d.kind,
      organizationId: d.organizationId || null,
      expectedEndAt: cityInstant(d.expectedEnd),
      streetRanges: ranges.map((r) => ({ street: r.street.trim(), houses: r.houses.trim() || null })),
      polygon: d.polygon.length >= 3 ? d.polygon : null,
      areaDescription: d.areaDescription.trim() || null,
      addressIds: p.initial?.addressIds ?? [],
    };
    try {
      const saved = p.initial
        ? (await gql<{ updateIncident: IncidentRow }>(UPDATE, { id: p.initial.id, input, lang }, token)).updateIncident
        : (await gql<{ createIncident: IncidentRow }>(CREATE, { input, lang }, token)).createIncident;
      p.onSaved(saved);
    } catch (err) {
      setProblem(errorText(err, t));
    }
  };

  return (
    <form class="incident-form" data-testid="incident-form" onSubmit={save}>
      <h2>{p.initial ? t("inc.edit") : t("inc.new")}</h2>
      <div class="row">
        <div class="field">
          <label for="inc-title">{t("inc.titleField")}</label>
          <input id="inc-title" name="title" autoFocus value={d.title} onInput={(e) => setD({ ...d, title: (e.target as HTMLInputElement).value })} />
        </div>
        <div class="field">
          <label for="inc-kind">{t("inc.kind")}</label>
          <select id="inc-kind" name="kind" value={d.kind} onChange={(e) => setD({ ...d, kind: (e.target as HTMLSelectElement).value })}>
            {KINDS.map((k) => (
              <option value={k}>{t("kind." + k)}</option>
            ))}
          </select>
        </div>
      </div>
      <div class="row">
        <div class="field">
          <label for="inc-org">{t("op.organization")}</label>
          <select id="inc-org" name="organization" value={d.organizationId} onChange={(e) => setD({ ...d, organizationId: (e.target as HTMLSelectElement).value })}>
            <option value="">—</option>
            {p.orgs.map((o) => (
              <option value={o.id}>{o.name}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="inc-end">{t("inc.expectedEnd")}</label>
          <input
            id="inc-end"
            name="expectedEnd"
            type="datetime-local"
            value={d.expectedEnd}
            onInput={(e) => setD({ ...d, expectedEnd: (e.target as HTMLInputElement).value })}
          />
        </div>
      </div>
      <fieldset class="ranges">
        <legend>{t("inc.streets")}</legend>
        {d.ranges.map((r, n) => (
          <div class="row" data-testid="range">
            <div class="field">
              <label for={`inc-street-${n}`}>{t("inc.street")}</label>
              <input id={`inc-street-${n}`} name="street" value={r.street} onInput={(e) => setRange(n, { street: (e.target as HTMLInputElement).value })} />
            </div>
            <div class="field">
              <label for={`inc-houses-${n}`}>{t("inc.houses")}</label>
              <input
                id={`inc-houses-${n}`}
                name="houses"
                placeholder={t("inc.housesPlaceholder")}
                value={r.houses}
                onInput={(e) => setRange(n, { houses: (e.target as HTMLInputElement).value })}
              />
            </div>
          </div>
        ))}
        <button type="button" class="link" onClick={() => setD({ ...d, ranges: [...d.ranges, { street: "", houses: "" }] })}>
          + {t("inc.addStreet")}
        </button>
      </fieldset>
      <div class="field">
        <span class="label">{t("inc.drawPolygon")}</span>
        <div class="map small-map" ref={mapEl} data-testid="incident-map" aria-label={t("inc.drawPolygon")} role="application" />
        <span class="muted small">
          {fill(t("inc.corners"), { n: d.polygon.length })}{" "}
          {d.polygon.length > 0 && (
            <button type="button" class="link" onClick={() => setD({ ...d, polygon: [] })}>
              {t("inc.clearPolygon")}
            </button>
          )}
        </span>
      </div>
      <div class="field">
        <label for="inc-desc">{t("inc.areaDescription")}</label>
        <input id="inc-desc" name="areaDescription" value={d.areaDescription} onInput={(e) => setD({ ...d, areaDescription: (e.target as HTMLInputElement).value })} />
      </div>
      {problem && (
        <p class="error" role="alert" data-testid="incident-problem">
          {problem}
        </p>
      )}
      <div class="row">
        <button type="submit" data-testid="save-incident">
          {t("inc.save")}
        </button>
        <button type="button" class="secondary" onClick={p.onCancel}>
          {t("rq.cancelForm")}
        </button>
      </div>
    </form>
  );
}

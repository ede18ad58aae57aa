import L from "leaflet";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useSession } from "../app";
import { useNow } from "../components/Countdown";
import { categoriesOf, passes, pinStyle, secondsLeft, type MapFilter, type PublicCollection, type PublicFeature } from "../lib/geo";
import { formatDateTime, formatLeft } from "../lib/time";

interface MapConfig {
  city: string;
  center: [number, number];
  zoom: number;
  tileUrl: string;
  tileAttribution: string;
}

const POLL_MS = 5000;

/** Residents' map: anonymized requests, live, with no login. */
export function PublicMap() {
  const { t, lang } = useSession();
  const [config, setConfig] = useState<MapConfig | null>(null);
  const [features, setFeatures] = useState<PublicFeature[]>([]);
  const [filter, setFilter] = useState<MapFilter>({ category: "", status: "open" });
  const [noTiles, setNoTiles] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mapEl = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  const layer = useRef<L.LayerGroup | null>(null);
  const now = useNow();

  useEffect(() => {
    fetch("/public/config.json")
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`config: ${r.status}`))))
      .then(setConfig)
      .catch((e: Error) => setError(e.message));
  }, []);

  useEffect(() => {
    let etag: string | null = null;
    let stopped = false;
    const poll = async () => {
      try {
        const res = await fetch("/public/requests.geojson?status=all", { cache: "no-cache" });
        if (res.status === 429) return; // the server asked for a pause; the next poll will do
        if (!res.ok) throw new Error(`${res.status}`);
        const tag = res.headers.get("etag");
        if (tag && tag === etag) return;
        etag = tag;
        const body = (await res.json()) as PublicCollection;
        if (!stopped) {
          setFeatures(body.features);
          setError(null);
        }
      } catch (e) {
        if (!stopped) setError((e as Error).message);
      }
    };
    poll();
    const id = setInterval(poll, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(id);
    };
  }, []);

  useEffect(() => {
    if (!config || !mapEl.current || map.current) return;
    const m = L.map(mapEl.current, { center: config.center, zoom: config.zoom });
    if (config.tileUrl) {
      const tiles = L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 });
      tiles.on("tileerror", () => setNoTiles(true));
      tiles.addTo(m);
    } else setNoTiles(true);
    layer.current = L.layerGroup().addTo(m);
    map.current = m;
    return () => {
      m.remove();
      map.current = null;
    };
  }, [config]);

  const visible = useMemo(() => features.filter((f) => passes(f.properties, filter)), [features, filter]);

  useEffect(() => {
    const group = layer.current;
    if (!group) return;
    group.clearLayers();
    for (const f of visible) {
      const [lon, lat] = f.geometry.coordinates;
      const marker = L.circleMarker([lat, lon], pinStyle(f.properties));
      marker.bindPopup(() => popup(f, lang, t));
      marker.addTo(group);
      const el = marker.getElement();
      el?.setAttribute("data-number", f.properties.number);
    }
  }, [visible, lang, config]);

  const cats = categoriesOf(features, lang);
  return (
    <div class="public-map">
      <section class="card filters">
        <h1>
          {t("map.title")}
          {config ? ` — ${config.city}` : ""}
        </h1>
        <label>
          {t("map.category")}{" "}
          <select
            name="category"
            value={filter.category}
            onChange={(e) => setFilter({ ...filter, category: (e.target as HTMLSelectElement).value })}
          >
            <option value="">{t("map.allCategories")}</option>
            {cats.map((c) => (
              <option value={c.code}>{c.name}</option>
            ))}
          </select>
        </label>{" "}
        <label>
          {t("map.status")}{" "}
          <select
            name="status"
            value={filter.status}
            onChange={(e) => setFilter({ ...filter, status: (e.target as HTMLSelectElement).value })}
          >
            {["open", "overdue", "closed", "all"].map((s) => (
              <option value={s}>{t("map." + s)}</option>
            ))}
          </select>
        </label>{" "}
        <span class="muted" data-testid="pin-count">
          {visible.length} {t("map.count")}
        </span>
        {noTiles && <p class="muted small">{t("map.noTiles")}</p>}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </section>
      <div class="map-and-list">
        <div ref={mapEl} class="map" data-testid="map" />
        <ul class="pins" data-testid="pins">
          {visible.slice(0, 200).map((f) => {
            const p = f.properties;
            const left = secondsLeft(p, now);
            return (
              <li data-number={p.number} class={p.overdue ? "overdue" : ""} onClick={() => focus(map.current, f)}>
                <span class="dot" style={{ background: pinStyle(p).fillColor }} />
                <strong>{p.number}</strong> {lang === "ru" ? p.categoryName : p.categoryNameEn}
                <div class="muted small">
                  {p.address} · {t("status." + p.status)}
                  {left != null &&
                    (left < 0
                      ? ` · ${t("map.overdueBy")} ${formatLeft(-left * 1000, lang)}`
                      : ` · ${t("map.left")} ${formatLeft(left * 1000, lang)}`)}
                </div>
              </li>
            );
          })}
        </ul>
      </div>
    </div>
  );
}

function focus(m: L.Map | null, f: PublicFeature) {
  if (!m) return;
  const [lon, lat] = f.geometry.coordinates;
  m.setView([lat, lon], Math.max(m.getZoom(), 16));
}

/** The pin's card, built as nodes so nothing in the data is read as HTML. */
function popup(f: PublicFeature, lang: "ru" | "en", t: (k: string) => string): HTMLElement {
  const p = f.properties;
  const div = document.createElement("div");
  const line = (text: string, strong = false) => {
    const el = document.createElement(strong ? "strong" : "div");
    el.textContent = text;
    div.appendChild(el);
  };
  line(`${p.number} · ${lang === "ru" ? p.categoryName : p.categoryNameEn}`, true);
  line(p.address);
  line(`${t("status." + p.status)}${p.organization ? " · " + p.organization : ""}`);
  const left = secondsLeft(p, Date.now());
  if (left != null) {
    line(left < 0 ? `${t("map.overdueBy")} ${formatLeft(-left * 1000, lang)}` : `${t("map.left")} ${formatLeft(left * 1000, lang)}`);
  }
  line(`${t("map.deadline")}: ${formatDateTime(p.deadline, lang)}`);
  return div;
}

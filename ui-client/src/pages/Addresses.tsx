import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { ApiError, gql } from "../lib/api";
import { errorText } from "../lib/errors";
import { fill } from "../lib/i18n";
import { formatDateTime } from "../lib/time";

const LIST = `query($lang: String!) {
  requests(first: 30, filter: { addressUnconfirmed: true }) {
    edges { node { id number status version registeredAt address { label district lat lon } category { name(lang: $lang) } } }
  }
}`;
const SEARCH = `query($q: String!) { addresses(search: $q, first: 8) { id label district } }`;
const ADD = `mutation($b: BuildingInput!) { addBuilding(input: $b) { id label } }`;
const ATTACH = `mutation($id: ID!, $v: Int, $a: ID!, $reason: String!) {
  correctRequest(id: $id, expectedVersion: $v, input: { addressId: $a }, reason: $reason) { id addressUnconfirmed }
}`;

interface Row {
  id: string;
  number: string;
  status: string;
  version: number;
  registeredAt: string;
  address: { label: string; district: string; lat: number; lon: number };
  category: { name: string } | null;
}

/** Requests registered with an address the registry does not have: attach a building, or add one first. */
export function Addresses() {
  const { t, lang, token, me } = useSession();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = () =>
    gql<{ requests: { edges: Array<{ node: Row }> } }>(LIST, { lang }, token)
      .then((d) => setRows(d.requests.edges.map((e) => e.node)))
      .catch((e: ApiError) => setError(errorText(e, t)));
  useEffect(() => {
    load();
  }, [lang]);
  const admin = me?.role === "ADMIN";
  return (
    <section class="card">
      <h1>{t("addr.title")}</h1>
      <p class="muted">{t("addr.hint")}</p>
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
      {rows === null ? (
        <p class="muted">…</p>
      ) : rows.length === 0 ? (
        <p class="muted" data-testid="addresses-none">
          {t("addr.none")}
        </p>
      ) : (
        <ul class="work-items" data-testid="unconfirmed">
          {rows.map((r) => (
            <Unconfirmed
              key={r.id}
              row={r}
              admin={admin}
              onDone={() => {
                setNotice(fill(t("addr.attached"), { number: r.number }));
                load();
              }}
              onError={setError}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function Unconfirmed(p: { row: Row; admin: boolean; onDone: () => void; onError: (e: string) => void }) {
  const { t, lang, token } = useSession();
  const r = p.row;
  const [q, setQ] = useState("");
  const [found, setFound] = useState<Array<{ id: string; label: string; district: string }>>([]);
  const [chosen, setChosen] = useState("");
  const [adding, setAdding] = useState(false);
  const [b, setB] = useState({ street: r.address.label, house: "", lat: String(r.address.lat), lon: String(r.address.lon) });
  const id = r.id.toLowerCase();

  useEffect(() => {
    if (q.trim().length < 2) return setFound([]);
    const timer = setTimeout(() => gql<{ addresses: typeof found }>(SEARCH, { q }, token).then((d) => setFound(d.addresses)), 200);
    return () => clearTimeout(timer);
  }, [q]);

  const attach = async (addressId: string) => {
    try {
      await gql(ATTACH, { id: r.id, v: r.version, a: addressId, reason: t("addr.reason") }, token);
      p.onDone();
    } catch (e) {
      p.onError(errorText(e, t));
    }
  };
  const addAndAttach = async (e: Event) => {
    e.preventDefault();
    try {
      const d = await gql<{ addBuilding: { id: string } }>(
        ADD,
        { b: { street: b.street.trim(), house: b.house.trim(), district: r.address.district, lat: Number(b.lat), lon: Number(b.lon) } },
        token,
      );
      await attach(d.addBuilding.id);
    } catch (err) {
      p.onError(errorText(err, t));
    }
  };

  return (
    <li class="work-item" data-number={r.number}>
      <div>
        <a href={`#/request/${r.id}`}>
          <strong>{r.number}</strong>
        </a>{" "}
        · {r.category?.name} · {t("status." + r.status)} · <span class="muted">{formatDateTime(r.registeredAt, lang)}</span>
      </div>
      <div>
        <strong>{r.address.label}</strong> <span class="muted">{r.address.district}</span>
      </div>
      {p.admin && (
        <>
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              if (chosen) attach(chosen);
            }}
          >
            <label for={`find-${id}`} class="visually-hidden">
              {t("addr.building")}
            </label>
            <input
              id={`find-${id}`}
              name="building"
              list={`found-${id}`}
              placeholder={t("addr.building")}
              value={q}
              onInput={(e) => {
                const v = (e.target as HTMLInputElement).value;
                setQ(v);
                setChosen(found.find((f) => `${f.label} (${f.district})` === v)?.id ?? "");
              }}
            />
            <datalist id={`found-${id}`}>
              {found.map((f) => (
                <option value={`${f.label} (${f.district})`} />
              ))}
            </datalist>
            <button type="submit" disabled={!chosen}>
              {t("addr.attach")}
            </button>
            <button type="button" class="secondary" aria-expanded={adding} onClick={() => setAdding(!adding)}>
              {t("addr.newBuilding")}
            </button>
          </form>
          {adding && (
            <form class="inline new-building" onSubmit={addAndAttach} data-testid="new-building">
              {(["street", "house", "lat", "lon"] as const).map((k) => (
                <>
                  <label for={`${k}-${id}`} class="visually-hidden">
                    {t("addr." + k)}
                  </label>
                  <input
                    id={`${k}-${id}`}
                    name={k}
                    placeholder={t("addr." + k)}
                    value={b[k]}
                    onInput={(e) => {
                      const v = (e.target as HTMLInputElement).value;
                      setB((x) => ({ ...x, [k]: v }));
                    }}
                  />
                </>
              ))}
              <button type="submit">{t("addr.add")}</button>
            </form>
          )}
        </>
      )}
    </li>
  );
}

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useSession } from "../app";
import { Picker } from "../components/Picker";
import { CallerPanel } from "../components/CallerPanel";
import { ApiError, gql, subscribe } from "../lib/api";
import { errorText } from "../lib/errors";
import { emptyCard, matchCategories, toInput, validateCard, type CardDraft } from "../lib/card";
import { formatDateTime } from "../lib/time";
import { fill, kindLabel } from "../lib/i18n";

interface Address {
  id: string;
  label: string;
  district: string;
}
interface Category {
  code: string;
  group: string;
  deadlineClass: string;
  nameRu: string;
  nameEn: string;
  keywords: string[];
}
interface Incident {
  id: string;
  title: string;
  kind: string;
  coverage: string | null;
  expectedEndAt: string | null;
  organization: { name: string } | null;
}
interface Brief {
  id: string;
  number: string;
  status: string;
  registeredAt: string;
  category: { name: string } | null;
}
interface Hints {
  deadline: string | null;
  deadlineClass: string | null;
  script: string | null;
  organization: { id: string; name: string } | null;
  activeIncidents: Incident[];
  openRequestsAtAddress: Brief[];
  recurringAtAddress: Brief[];
}
interface Registered {
  id: string;
  number: string;
  deadline: string;
  deadlineClass: string;
  status: string;
  organization: { name: string } | null;
  incident: { id: string; title: string } | null;
  address: { label: string };
  addressUnconfirmed: boolean;
  category: { name: string } | null;
}

const CATEGORIES = `query { categories { code group deadlineClass keywords nameRu: name(lang: "ru") nameEn: name(lang: "en") } }`;
const ADDRESSES = `query($q: String!) { addresses(search: $q, first: 8) { id label district } }`;
const BRIEF = `id number status registeredAt category { name(lang: $lang) }`;
const HINTS = `subscription($addressId: ID, $categoryCode: ID, $raised: Boolean!, $lang: String!) {
  cardHints(addressId: $addressId, categoryCode: $categoryCode, raised: $raised, lang: $lang) {
    deadline deadlineClass script organization { id name(lang: $lang) }
    activeIncidents { id title kind coverage expectedEndAt organization { name(lang: $lang) } }
    openRequestsAtAddress { ${BRIEF} }
    recurringAtAddress { ${BRIEF} }
  }
}`;
const DISTRICTS = `query { districts }`;
const ATTACH = `mutation($id: ID!, $applicant: ApplicantInput!) { addApplicant(id: $id, applicant: $applicant) { id number } }`;
const REGISTER = `mutation($input: RegisterRequestInput!, $lang: String!) {
  registerRequest(input: $input) {
    id number deadline deadlineClass status organization { name(lang: $lang) } incident { id title }
    address { label } addressUnconfirmed category { name(lang: $lang) }
  }
}`;

/** The last incoming call that opened a card in this browser tab. */
let poppedCall = 0;

/** Keyboard-first card entry with the hints panel beside it. */
export function Operator() {
  const { t, lang, token, incoming } = useSession();
  const [card, setCard] = useState<CardDraft>(emptyCard());
  const [address, setAddress] = useState<Address | null>(null);
  const [addresses, setAddresses] = useState<Address[]>([]);
  const [addressesFor, setAddressesFor] = useState("");
  const [categories, setCategories] = useState<Category[]>([]);
  const [categoryQuery, setCategoryQuery] = useState("");
  const [hints, setHints] = useState<Hints | null>(null);
  const [incident, setIncident] = useState<Incident | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [done, setDone] = useState<Registered | null>(null);
  const [attached, setAttached] = useState<string | null>(null);
  const [districts, setDistricts] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [formKey, setFormKey] = useState(0);
  const phoneRef = useRef<HTMLInputElement>(null);
  const lastQuery = useRef(0);

  useEffect(() => {
    gql<{ categories: Category[] }>(CATEGORIES, {}, token)
      .then((d) => setCategories(d.categories))
      .catch((e: ApiError) => setServerError(errorText(e, t)));
  }, []);

  // The phone field has the focus when the console opens and whenever a new card starts.
  useEffect(() => {
    phoneRef.current?.focus();
  }, [formKey]);

  // Screen pop: the PBX reported a call at this extension; a fresh card with the caller's number.
  // Each call opens one card: coming back to the page later does not wipe the card being entered.
  useEffect(() => {
    if (!incoming || incoming.seq <= poppedCall) return;
    poppedCall = incoming.seq;
    reset();
    setCard({ ...emptyCard(), phone: incoming.phone ?? incoming.callerId });
  }, [incoming?.seq]);

  useEffect(() => {
    if (!token || (!card.addressId && !card.categoryCode)) {
      setHints(null);
      return;
    }
    return subscribe<{ cardHints: Hints }>(
      HINTS,
      { addressId: card.addressId, categoryCode: card.categoryCode, raised: card.raise, lang },
      token,
      (d) => setHints(d.cardHints),
      (e) => setServerError(errorText(e, t)),
    );
  }, [card.addressId, card.categoryCode, card.raise, lang, token]);

  const category = categories.find((c) => c.code === card.categoryCode) ?? null;
  const matches = useMemo(() => matchCategories(categories, categoryQuery), [categories, categoryQuery]);
  const set = (patch: Partial<CardDraft>) => {
    setCard((c) => ({ ...c, ...patch }));
    setErrors((e) => {
      const next = { ...e };
      for (const k of Object.keys(patch)) {
        if (k === "freeAddress") {
          delete next.freeText;
          delete next.district;
          delete next.address;
        } else delete next[k === "addressId" ? "address" : k === "categoryCode" ? "category" : k];
      }
      return next;
    });
  };

  /** Changes the free-text address from the latest card, never a stale copy of it. */
  const setFree = (patch: Partial<{ text: string; district: string }>) => {
    setCard((c) => ({ ...c, freeAddress: { text: "", district: "", ...c.freeAddress, ...patch } }));
    setErrors((e) => {
      const next = { ...e };
      delete next.freeText;
      delete next.district;
      return next;
    });
  };

  const queryAddresses = (q: string) => {
    const seq = ++lastQuery.current;
    setAddresses([]);
    setAddressesFor("");
    if (q.trim().length < 2) return;
    setTimeout(() => {
      if (seq !== lastQuery.current) return;
      gql<{ addresses: Address[] }>(ADDRESSES, { q }, token)
        .then((d) => {
          if (seq !== lastQuery.current) return;
          setAddresses(d.addresses);
          setAddressesFor(q);
        })
        .catch((e: ApiError) => setServerError(errorText(e, t)));
    }, 120);
  };

  /** A new empty card; the last registration's read-out stays on screen until the next one. */
  const reset = (keepReadout = false) => {
    setCard(emptyCard());
    setAddress(null);
    setAddresses([]);
    setCategoryQuery("");
    setIncident(null);
    setHints(null);
    setErrors({});
    setServerError(null);
    if (!keepReadout) setDone(null);
    setFormKey((k) => k + 1);
  };

  /** Another caller about a request already open at the building: attached to it, no duplicate card. */
  const attach = async (r: Brief) => {
    const found = validateCard({ ...card, addressId: "-", categoryCode: "-", description: "-" });
    if (!card.phone.trim() && !card.name.trim()) {
      setErrors({ phone: "err.required" });
      phoneRef.current?.focus();
      return;
    }
    if (Object.keys(found).length > 0) {
      setErrors(found);
      return;
    }
    setBusy(true);
    try {
      const input = toInput(card, null);
      await gql(ATTACH, { id: r.id, applicant: input.applicant }, token);
      setDone(null);
      reset(true);
      setAttached(r.number);
    } catch (e) {
      setServerError(errorText(e, t));
    } finally {
      setBusy(false);
    }
  };

  const submit = async () => {
    if (busy) return;
    const found = validateCard(card);
    setErrors(found);
    if (Object.keys(found).length > 0) {
      document.getElementById(Object.keys(found)[0])?.focus();
      return;
    }
    setBusy(true);
    setServerError(null);
    try {
      const d = await gql<{ registerRequest: Registered }>(
        REGISTER,
        { input: toInput(card, incident?.id ?? null), lang },
        token,
      );
      setDone(d.registerRequest);
      setAttached(null);
      reset(true);
    } catch (e) {
      setServerError(errorText(e, t));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submit();
      } else if (e.key === "Escape" && done) {
        e.preventDefault();
        setDone(null);
      } else if (e.altKey && /^[1-9]$/.test(e.key) && hints) {
        const hit = hints.activeIncidents[Number(e.key) - 1];
        if (hit) {
          e.preventDefault();
          setIncident(incident?.id === hit.id ? null : hit);
        }
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  });

  const err = (k: string) => (errors[k] ? t(errors[k]) : undefined);
  const chosenCategory = category ? (lang === "ru" ? category.nameRu : category.nameEn) : "";
  const willClass = card.raise ? "EMERGENCY" : (hints?.deadlineClass ?? category?.deadlineClass ?? null);
  return (
    <div class="operator-page">
      {done && <Readout done={done} onClose={() => setDone(null)} />}
      {attached && (
        <p class="notice" role="status" data-testid="attached">
          {fill(t("op.attached"), { number: attached })}
        </p>
      )}
      <div class="operator" key={formKey}>
      <form
        class="card entry"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <h1>{t("op.title")}</h1>
        <div class="row">
          <div class={"field" + (errors.phone ? " invalid" : "")}>
            <label for="phone">{t("op.phone")}</label>
            <input
              id="phone"
              ref={phoneRef}
              type="tel"
              autoComplete="off"
              value={card.phone}
              onInput={(e) => set({ phone: (e.target as HTMLInputElement).value })}
            />
            {err("phone") && <span class="error">{err("phone")}</span>}
          </div>
          <div class="field">
            <label for="name">{t("op.name")}</label>
            <input id="name" value={card.name} onInput={(e) => set({ name: (e.target as HTMLInputElement).value })} />
          </div>
        </div>
        <label class="check">
          <input
            id="consent"
            type="checkbox"
            checked={card.consent}
            onChange={(e) => set({ consent: (e.target as HTMLInputElement).checked })}
          />
          {t("op.consent")}
        </label>
        {card.freeAddress ? (
          <fieldset class="free-address" data-testid="free-address">
            <legend>{t("op.notInRegistry")}</legend>
            <div class={"field" + (errors.freeText ? " invalid" : "")}>
              <label for="freeText">{t("op.freeText")}</label>
              <input
                id="freeText"
                value={card.freeAddress.text}
                aria-invalid={!!errors.freeText}
                onInput={(e) => setFree({ text: (e.target as HTMLInputElement).value })}
              />
              {err("freeText") && <span class="error">{err("freeText")}</span>}
            </div>
            <div class={"field" + (errors.district ? " invalid" : "")}>
              <label for="district">{t("op.district")}</label>
              <select
                id="district"
                value={card.freeAddress.district}
                aria-invalid={!!errors.district}
                onChange={(e) => setFree({ district: (e.target as HTMLSelectElement).value })}
              >
                <option value="">{t("op.pickDistrict")}</option>
                {districts.map((d) => (
                  <option value={d}>{d}</option>
                ))}
              </select>
              {err("district") && <span class="error">{err("district")}</span>}
            </div>
            <button type="button" class="link" onClick={() => set({ freeAddress: null })}>
              {t("op.addressPlaceholder")}
            </button>
          </fieldset>
        ) : (
          <>
          <Picker<Address>
            id="address"
            label={t("op.address")}
            placeholder={t("op.addressPlaceholder")}
            chosen={address ? `${address.label} (${address.district})` : ""}
            labelOf={(a) => `${a.label} (${a.district})`}
            items={addresses}
            answered={addressesFor !== ""}
            empty={t("op.noAddress")}
            onClear={() => {
              setAddress(null);
              setIncident(null);
              set({ addressId: null });
            }}
            render={(a) => (
              <>
                {a.label} <span class="muted">{a.district}</span>
              </>
            )}
            onQuery={queryAddresses}
            onPick={(a) => {
              setAddress(a);
              setIncident(null);
              set({ addressId: a.id });
            }}
            error={err("address")}
          />
            <button
              type="button"
              class="link not-in-registry"
              data-testid="not-in-registry"
              onClick={() => {
                setAddress(null);
                setIncident(null);
                set({ addressId: null, freeAddress: { text: "", district: "" } });
                if (districts.length === 0) {
                  gql<{ districts: string[] }>(DISTRICTS, {}, token)
                    .then((d) => setDistricts(d.districts))
                    .catch((e: ApiError) => setServerError(errorText(e, t)));
                }
                setTimeout(() => document.getElementById("freeText")?.focus(), 0);
              }}
            >
              {t("op.notInRegistry")}
            </button>
          </>
        )}
        <Picker<Category>
          id="category"
          label={t("op.category")}
          placeholder={t("op.categoryPlaceholder")}
          chosen={chosenCategory}
          labelOf={(c) => (lang === "ru" ? c.nameRu : c.nameEn)}
          items={matches}
          answered={categories.length > 0}
          empty={t("op.noCategory")}
          onClear={() => set({ categoryCode: null })}
          render={(c) => (
            <>
              {lang === "ru" ? c.nameRu : c.nameEn} <span class="muted">{c.group}</span>
              <span class={"class-tag " + c.deadlineClass}>{t("class." + c.deadlineClass)}</span>
            </>
          )}
          onQuery={setCategoryQuery}
          onPick={(c) => set({ categoryCode: c.code })}
          error={err("category")}
        />
        <div class={"field" + (errors.description ? " invalid" : "")}>
          <label for="description">{t("op.description")}</label>
          <textarea
            id="description"
            rows={4}
            value={card.description}
            onInput={(e) => set({ description: (e.target as HTMLTextAreaElement).value })}
          />
          {err("description") && <span class="error">{err("description")}</span>}
        </div>
        <label class="check">
          <input
            id="raise"
            type="checkbox"
            checked={card.raise}
            onChange={(e) => set({ raise: (e.target as HTMLInputElement).checked })}
          />
          {t("op.raise")}
        </label>
        {card.raise && (
          <div class={"field" + (errors.emergencyReason ? " invalid" : "")}>
            <label for="emergencyReason">{t("op.raiseReason")}</label>
            <input
              id="emergencyReason"
              value={card.emergencyReason}
              onInput={(e) => set({ emergencyReason: (e.target as HTMLInputElement).value })}
            />
            {err("emergencyReason") && <span class="error">{err("emergencyReason")}</span>}
          </div>
        )}
        {incident && (
          <p class="linked" data-testid="linked">
            {t("op.linkedTo")}: <strong>{incident.title}</strong>{" "}
            <button type="button" class="link" onClick={() => setIncident(null)}>
              {t("hints.unlink")}
            </button>
          </p>
        )}
        {serverError && (
          <p class="error" role="alert">
            {serverError}
          </p>
        )}
        {(address || category || card.freeAddress) && (
          <dl class="readback" data-testid="readback" aria-live="polite">
            <dt>{t("op.readAddress")}</dt>
            <dd>
              {card.freeAddress
                ? `${card.freeAddress.text} (${card.freeAddress.district || "—"}) · ${t("op.unconfirmed")}`
                : address
                  ? `${address.label} (${address.district})`
                  : "—"}
            </dd>
            <dt>{t("op.readCategory")}</dt>
            <dd>
              {chosenCategory || "—"}
              {willClass && ` · ${t("class." + willClass)}`}
            </dd>
          </dl>
        )}
        <button type="submit" disabled={busy} data-testid="submit">
          {t("op.submit")}
        </button>
        <p class="muted keys">{t("op.keys")}</p>
      </form>
      <div class="side">
        {card.phone.trim() && <CallerPanel phone={card.phone} />}
        <HintsPanel hints={hints} linked={incident} onLink={setIncident} onAttach={attach} />
      </div>
      </div>
    </div>
  );
}

/** The registered card read out to the caller: number, deadline, address and category. */
function Readout(p: { done: Registered; onClose: () => void }) {
  const { t, lang } = useSession();
  const done = p.done;
  return (
    <section class="card registered" data-testid="registered" role="status">
      <h2>
        {t("op.registered")}: <span data-testid="number">{done.number}</span>
      </h2>
      <p class="muted">{t("op.readOut")}:</p>
      <dl class="readout">
        <dt>{t("op.number")}</dt>
        <dd>
          <a href={`#/request/${done.id}`}>{done.number}</a>
        </dd>
        <dt>{t("op.deadline")}</dt>
        <dd data-testid="deadline">
          {formatDateTime(done.deadline, lang)} · {t("class." + done.deadlineClass)}
        </dd>
        <dt>{t("op.readAddress")}</dt>
        <dd data-testid="readout-address">
          {done.address.label}
          {done.addressUnconfirmed && <span class="class-tag EMERGENCY">{t("op.unconfirmed")}</span>}
        </dd>
        <dt>{t("op.readCategory")}</dt>
        <dd data-testid="readout-category">{done.category?.name ?? "—"}</dd>
        <dt>{t("op.organization")}</dt>
        <dd>{done.organization?.name ?? t("op.unrouted")}</dd>
        {done.incident && (
          <>
            <dt>{t("op.linkedTo")}</dt>
            <dd>{done.incident.title}</dd>
          </>
        )}
      </dl>
      <button type="button" class="link" onClick={p.onClose}>
        ✕
      </button>
    </section>
  );
}

function HintsPanel(p: {
  hints: Hints | null;
  linked: Incident | null;
  onLink: (i: Incident | null) => void;
  onAttach: (r: Brief) => void;
}) {
  const { t, lang } = useSession();
  const h = p.hints;
  if (!h) {
    return (
      <aside class="card hints" data-testid="hints">
        <h2>{t("hints.title")}</h2>
        <p class="muted">{t("hints.pick")}</p>
      </aside>
    );
  }
  const briefs = (rows: Brief[], testid: string, attachable = false) =>
    rows.length === 0 ? (
      <p class="muted">{t("hints.none")}</p>
    ) : (
      <ul class="briefs" data-testid={testid}>
        {rows.map((r) => (
          <li>
            <a href={`#/request/${r.id}`}>
              <strong>{r.number}</strong>
            </a>{" "}
            {r.category?.name} · {t("status." + r.status)} · <span class="muted">{formatDateTime(r.registeredAt, lang)}</span>
            {attachable && (
              <button type="button" class="secondary attach" data-testid="attach" onClick={() => p.onAttach(r)}>
                {t("op.attach")}
              </button>
            )}
          </li>
        ))}
      </ul>
    );
  return (
    <aside class="card hints" data-testid="hints">
      <h2>{t("hints.incidents")}</h2>
      {h.activeIncidents.length === 0 ? (
        <p class="muted">{t("hints.noIncidents")}</p>
      ) : (
        <ul class="incidents" data-testid="incidents">
          {h.activeIncidents.map((i, n) => (
            <li class={p.linked?.id === i.id ? "linked" : ""}>
              <div>
                <span class="kbd">Alt+{n + 1}</span> <strong>{i.title}</strong>
                <span class="muted">
                  {" "}
                  · {kindLabel(t, i.kind)}
                  {i.coverage ? ` · ${t("hints.coverage." + i.coverage)}` : ""}
                  {i.organization ? ` · ${i.organization.name}` : ""}
                  {i.expectedEndAt ? ` · ${t("hints.until")} ${formatDateTime(i.expectedEndAt, lang)}` : ""}
                </span>
              </div>
              <button type="button" onClick={() => p.onLink(p.linked?.id === i.id ? null : i)}>
                {p.linked?.id === i.id ? t("hints.linked") : t("hints.link")}
              </button>
            </li>
          ))}
        </ul>
      )}
      {h.script && (
        <>
          <h2>{t("hints.script")}</h2>
          <blockquote class="script" data-testid="script">
            {h.script}
          </blockquote>
        </>
      )}
      {h.deadline && (
        <p data-testid="will-get">
          {t("hints.willGet")}: <strong>{formatDateTime(h.deadline, lang)}</strong>
          {h.deadlineClass && ` · ${t("class." + h.deadlineClass)}`}
          {h.organization && ` · ${h.organization.name}`}
        </p>
      )}
      <h2>{t("hints.duplicates")}</h2>
      {briefs(h.openRequestsAtAddress, "duplicates", true)}
      <h2>{t("hints.recurring")}</h2>
      {briefs(h.recurringAtAddress, "recurring")}
    </aside>
  );
}

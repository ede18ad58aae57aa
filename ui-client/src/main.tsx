import { render } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import "leaflet/dist/leaflet.css";
import "./style.css";
import { SessionContext, type IncomingCall, type Me, type Session } from "./app";
import { ApiError, disconnect, gql } from "./lib/api";
import { savedLang, saveLang, translate, type Lang } from "./lib/i18n";
import { clearToken, homeOf, loadToken, saveToken } from "./lib/session";
import { Login } from "./pages/Login";
import { Operator } from "./pages/Operator";
import { Contractor } from "./pages/Contractor";
import { Supervisor } from "./pages/Supervisor";
import { PublicMap } from "./pages/PublicMap";
import { RequestPage } from "./pages/RequestPage";
import { Search } from "./pages/Search";
import { Worklist } from "./pages/Worklist";
import { Incidents } from "./pages/Incidents";
import { Addresses } from "./pages/Addresses";
import { Admin } from "./pages/Admin";
import { Analysis } from "./pages/Analysis";
import { DailyReport } from "./pages/DailyReport";
import { Plan } from "./pages/Plan";
import { Appeals } from "./pages/Appeals";
import { subscribe } from "./lib/api";

const ME = `query { me { role subject extension organization { id name } } }`;
const CALLS = `subscription { incomingCalls { callerId phone extension at } }`;

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

const CITY = ["OPERATOR", "SUPERVISOR", "ADMIN"];
const PAGES: Record<string, { roles: string[] | null; nav: string | null }> = {
  "#/operator": { roles: CITY, nav: "nav.operator" },
  "#/search": { roles: CITY, nav: "nav.search" },
  "#/callbacks": { roles: CITY, nav: "nav.callbacks" },
  "#/incidents": { roles: CITY, nav: "nav.incidents" },
  "#/addresses": { roles: ["SUPERVISOR", "ADMIN"], nav: "nav.addresses" },
  "#/request": { roles: ["OPERATOR", "SUPERVISOR", "ADMIN", "CONTRACTOR"], nav: null },
  "#/contractor": { roles: ["CONTRACTOR"], nav: "nav.contractor" },
  "#/supervisor": { roles: ["SUPERVISOR", "ADMIN"], nav: "nav.supervisor" },
  "#/analysis": { roles: ["SUPERVISOR", "ADMIN"], nav: "nav.analysis" },
  "#/report": { roles: ["SUPERVISOR", "ADMIN"], nav: "nav.report" },
  "#/plan": { roles: ["SUPERVISOR", "ADMIN"], nav: "nav.plan" },
  "#/appeals": { roles: ["SUPERVISOR", "ADMIN"], nav: "nav.appeals" },
  "#/map": { roles: null, nav: "nav.map" },
  "#/admin": { roles: ["ADMIN"], nav: "nav.admin" },
};

function App() {
  const [lang, setLangState] = useState<Lang>(savedLang());
  const [token, setToken] = useState<string | null>(loadToken());
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(!!token);
  const hash = useHash();
  // `#/request/<id>` and `#/search?q=…`: the page, then its parameter.
  const [route, param] = splitRoute(hash);
  const [incoming, setIncoming] = useState<IncomingCall | null>(null);

  const setLang = useCallback((l: Lang) => {
    saveLang(l);
    document.documentElement.lang = l;
    setLangState(l);
  }, []);

  const login = useCallback(async (t: string) => {
    const data = await gql<{ me: Me }>(ME, {}, t.trim());
    saveToken(t);
    setToken(t.trim());
    setMe(data.me);
    location.hash = homeOf(data.me.role);
  }, []);

  const logout = useCallback(() => {
    clearToken();
    disconnect();
    setToken(null);
    setMe(null);
    location.hash = "#/login";
  }, []);

  useEffect(() => {
    if (!token) return;
    gql<{ me: Me }>(ME, {}, token)
      .then((d) => setMe(d.me))
      .catch((e: ApiError) => {
        if (e.code === "UNAUTHENTICATED" || e.code === "FORBIDDEN") logout();
      })
      .finally(() => setChecking(false));
  }, []);

  // Screen pop: a call ringing at this operator's extension opens the caller's panel.
  useEffect(() => {
    if (!token || !me?.extension) return;
    return subscribe<{ incomingCalls: IncomingCall }>(
      CALLS,
      {},
      token,
      (d) => {
        setIncoming({ ...d.incomingCalls, seq: Date.now() });
        location.hash = "#/operator";
      },
      () => {},
    );
  }, [token, me?.extension]);

  const session: Session = useMemo(
    () => ({ lang, t: (k: string) => translate(lang, k), setLang, token, me, login, logout, incoming }),
    [lang, token, me, incoming],
  );
  const t = session.t;
  const page = PAGES[route];
  const allowed = !!me && !!page && (page.roles === null || page.roles.includes(me.role));
  useEffect(() => {
    // A signed-in user on the login page or on a page of another role goes to their own.
    // Judged on this render's route: when the address moved on meanwhile (a
    // link followed right after signing in), the new route is judged on its own.
    if (splitRoute(location.hash || "#/")[0] !== route) return;
    if (me && route !== "#/map" && !allowed) location.hash = homeOf(me.role);
  }, [me, route, allowed]);
  useEffect(() => {
    document.title = page?.nav ? `${t(page.nav)} · ${t("app.title")}` : t("app.title");
  }, [route, lang]);
  let body;
  if (route === "#/map") body = <PublicMap />;
  else if (checking) body = <p class="muted">…</p>;
  else if (!me) body = <Login />;
  else if (!allowed) body = null;
  else if (route === "#/operator") body = <Operator />;
  else if (route === "#/search") body = <Search query={param} />;
  else if (route === "#/callbacks") body = <Worklist />;
  else if (route === "#/incidents") body = <Incidents />;
  else if (route === "#/addresses") body = <Addresses />;
  else if (route === "#/request") body = <RequestPage id={param} key={param} />;
  else if (route === "#/contractor") body = <Contractor />;
  else if (route === "#/admin") body = <Admin param={param} />;
  else if (route === "#/analysis") body = <Analysis />;
  else if (route === "#/report") body = <DailyReport />;
  else if (route === "#/plan") body = <Plan />;
  else if (route === "#/appeals") body = <Appeals param={param} />;
  else body = <Supervisor />;

  return (
    <SessionContext.Provider value={session}>
      <header class="top">
        <strong class="brand">{t("app.title")}</strong>
        <nav>
          {Object.entries(PAGES)
            .filter(([, p]) => p.nav && (p.roles === null || (me && p.roles.includes(me.role))))
            .map(([h, p]) => (
              <a href={h} class={route === h ? "active" : ""} aria-current={route === h ? "page" : undefined}>
                {t(p.nav!)}
              </a>
            ))}
        </nav>
        <span class="spacer" />
        {me && (
          <span class="who" data-testid="who">
            {me.subject} · {t("role." + me.role)}
            {me.organization ? ` · ${me.organization.name}` : ""}
          </span>
        )}
        <button class="link" onClick={() => setLang(lang === "ru" ? "en" : "ru")} data-testid="lang">
          {t("nav.lang")}
        </button>
        {me ? (
          <button class="link" onClick={logout}>
            {t("nav.logout")}
          </button>
        ) : (
          route === "#/map" && <a href="#/login">{t("nav.login")}</a>
        )}
      </header>
      <main>{body}</main>
    </SessionContext.Provider>
  );
}

/** `#/request/01H…` → [`#/request`, `01H…`]; `#/search?q=x` → [`#/search`, `x`]. */
function splitRoute(hash: string): [string, string] {
  const q = /^(#\/[a-z]+)\?q=(.*)$/.exec(hash);
  if (q) return [q[1], decodeURIComponent(q[2])];
  const m = /^(#\/[a-z]+)(?:\/(.*))?$/.exec(hash);
  return m ? [m[1], decodeURIComponent(m[2] ?? "")] : [hash, ""];
}

document.documentElement.lang = savedLang();
render(<App />, document.getElementById("app")!);

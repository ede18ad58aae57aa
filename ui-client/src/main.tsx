import { render } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import "leaflet/dist/leaflet.css";
import "./style.css";
import { SessionContext, type Me, type Session } from "./app";
import { ApiError, disconnect, gql } from "./lib/api";
import { savedLang, saveLang, translate, type Lang } from "./lib/i18n";
import { clearToken, homeOf, loadToken, saveToken } from "./lib/session";
import { Login } from "./pages/Login";
import { Operator } from "./pages/Operator";
import { Contractor } from "./pages/Contractor";
import { Supervisor } from "./pages/Supervisor";
import { PublicMap } from "./pages/PublicMap";

const ME = `query { me { role subject organization { id name } } }`;

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

const PAGES: Record<string, { roles: string[] | null; nav: string }> = {
  "#/operator": { roles: ["OPERATOR", "SUPERVISOR", "ADMIN"], nav: "nav.operator" },
  "#/contractor": { roles: ["CONTRACTOR"], nav: "nav.contractor" },
  "#/supervisor": { roles: ["SUPERVISOR", "ADMIN"], nav: "nav.supervisor" },
  "#/map": { roles: null, nav: "nav.map" },
};

function App() {
  const [lang, setLangState] = useState<Lang>(savedLang());
  const [token, setToken] = useState<string | null>(loadToken());
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(!!token);
  const hash = useHash();

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

  const session: Session = useMemo(
    () => ({ lang, t: (k: string) => translate(lang, k), setLang, token, me, login, logout }),
    [lang, token, me],
  );
  const t = session.t;
  const page = PAGES[hash];
  const allowed = !!me && !!page && (page.roles === null || page.roles.includes(me.role));
  useEffect(() => {
    // A signed-in user on the login page or on a page of another role goes to their own.
    if (me && hash !== "#/map" && !allowed) location.hash = homeOf(me.role);
  }, [me, hash, allowed]);
  let body;
  if (hash === "#/map") body = <PublicMap />;
  else if (checking) body = <p class="muted">…</p>;
  else if (!me) body = <Login />;
  else if (!allowed) body = null;
  else if (hash === "#/operator") body = <Operator />;
  else if (hash === "#/contractor") body = <Contractor />;
  else body = <Supervisor />;

  return (
    <SessionContext.Provider value={session}>
      <header class="top">
        <strong class="brand">{t("app.title")}</strong>
        <nav>
          {Object.entries(PAGES)
            .filter(([, p]) => p.roles === null || (me && p.roles.includes(me.role)))
            .map(([h, p]) => (
              <a href={h} class={hash === h ? "active" : ""}>
                {t(p.nav)}
              </a>
            ))}
        </nav>
        <span class="spacer" />
        {me && (
          <span class="who" data-testid="who">
            {me.subject} · {me.role}
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
          hash === "#/map" && <a href="#/login">{t("nav.login")}</a>
        )}
      </header>
      <main>{body}</main>
    </SessionContext.Provider>
  );
}

document.documentElement.lang = savedLang();
render(<App />, document.getElementById("app")!);

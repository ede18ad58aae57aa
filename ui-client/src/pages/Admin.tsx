/**
 * The administration (ADMIN): reference data and the machinery around it,
 * one tab per sub-route (`#/admin/organizations`, `#/admin/categories`, …),
 * so a tab can be linked to and the browser's back button moves between
 * them. The tabs live in `pages/admin/` and are loaded when the page first
 * opens, in a chunk of their own.
 */
import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { ApiError } from "../lib/api";
import { errorText } from "../lib/errors";

/** The tabs, in the order the page lists them (the names of `admin/tabs.tsx`). */
export const TAB_NAMES = ["organizations", "categories", "routing", "buildings", "tokens", "feeds", "dialer", "changes"] as const;

type Tab = (typeof TAB_NAMES)[number];
type Tabs = typeof import("./admin/tabs").TABS;

/** The tab a route names; the organizations for none or an unknown one. */
export function tabOf(param: string): Tab {
  const name = param.split("/")[0];
  return (TAB_NAMES as readonly string[]).includes(name) ? (name as Tab) : "organizations";
}

/** The administration's page, on the tab `param` names. */
export function Admin(p: { param: string }) {
  const { t } = useSession();
  const [tabs, setTabs] = useState<Tabs | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    import("./admin/tabs")
      .then((m) => setTabs(m.TABS))
      .catch((e: Error) => setError(errorText(new ApiError(e.message, "NETWORK"), t)));
  }, []);
  const tab = tabOf(p.param);
  const Body = tabs?.[tab];
  return (
    <div class="admin" data-tab={tab}>
      <h1>{t("adm.title")}</h1>
      <nav class="adm-tabs" aria-label={t("adm.tabs")}>
        {TAB_NAMES.map((name) => (
          <a href={`#/admin/${name}`} class={name === tab ? "active" : ""} aria-current={name === tab ? "page" : undefined} data-tab={name}>
            {t("adm.tab." + name)}
          </a>
        ))}
      </nav>
      <section class="card adm-body" aria-labelledby="adm-tab-h" data-testid={"admin-" + tab}>
        <h2 id="adm-tab-h" class="adm-tab-title">
          {t("adm.tab." + tab)}
        </h2>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : Body ? (
          <Body key={tab} />
        ) : (
          <p class="muted">…</p>
        )}
      </section>
    </div>
  );
}

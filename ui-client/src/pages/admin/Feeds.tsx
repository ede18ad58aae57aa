/**
 * The feeds tab: each emergency feed the settings name, when it was last
 * pulled and last went well, its last refusal in words, and the incidents it
 * made. Feeds are configured in the settings file, not here.
 */
import { useSession } from "../../app";
import { formatDateTime } from "../../lib/time";
import { Said, Scroll, useQuery } from "./shared";

const LOAD = `query { feeds { name location format lastPull lastSuccess lastErrorAt lastErrorReason lastError errors created revised ended ignored } }`;

interface Feed {
  name: string;
  location: string;
  format: string;
  lastPull: string | null;
  lastSuccess: string | null;
  lastErrorAt: string | null;
  lastErrorReason: string | null;
  lastError: string | null;
  errors: number;
  created: number;
  revised: number;
  ended: number;
  ignored: number;
}

const COUNTS = ["created", "revised", "ended", "ignored", "errors"] as const;

/** The feeds of emergencies and how they fare. */
export function Feeds() {
  const { t, lang } = useSession();
  const { data, error, reload } = useQuery<{ feeds: Feed[] }>(LOAD, {});
  const when = (iso: string | null) => (iso ? formatDateTime(iso, lang) : <span class="muted">{t("adm.never")}</span>);
  const reason = (r: string) => {
    const key = "adm.feed.reason." + r;
    const word = t(key);
    return word === key ? r : word;
  };
  return (
    <>
      <Said error={error} />
      <p class="muted small">
        {t("adm.feed.hint")}{" "}
        <button type="button" class="link" onClick={reload} data-testid="feeds-reload">
          {t("adm.reload")}
        </button>
      </p>
      {data === null ? (
        !error && <p class="muted">…</p>
      ) : data.feeds.length === 0 ? (
        <p class="adm-empty" data-testid="feeds-none">
          {t("adm.feed.none")} <code>[[feeds]]</code> {t("adm.feed.noneWhere")}
        </p>
      ) : (
        <Scroll label={t("adm.tab.feeds")}>
          <table class="adm-table adm-rows" data-testid="feed-table">
            <thead>
              <tr>
                <th scope="col">{t("adm.feed.name")}</th>
                <th scope="col">{t("adm.feed.lastPull")}</th>
                <th scope="col">{t("adm.feed.lastSuccess")}</th>
                <th scope="col">{t("adm.feed.lastError")}</th>
                {COUNTS.map((c) => (
                  <th scope="col" class="num">
                    {t("adm.feed." + c)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.feeds.map((f) => (
                <tr data-feed={f.name} class={f.lastErrorAt && (!f.lastSuccess || f.lastErrorAt > f.lastSuccess) ? "adm-failing" : ""}>
                  <td>
                    <strong>{f.name}</strong> <span class="class-tag">{f.format.toUpperCase()}</span>
                    <div class="muted small adm-break">{f.location}</div>
                  </td>
                  <td class="small" data-label={t("adm.feed.lastPull")}>{when(f.lastPull)}</td>
                  <td class="small" data-label={t("adm.feed.lastSuccess")}>{when(f.lastSuccess)}</td>
                  <td class="small" data-testid="last-error" data-label={t("adm.feed.lastError")}>
                    {f.lastErrorAt ? (
                      <>
                        {formatDateTime(f.lastErrorAt, lang)} · <strong>{reason(f.lastErrorReason ?? "")}</strong>
                        {f.lastError && <div class="muted adm-break adm-detail-text">{f.lastError}</div>}
                      </>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  {COUNTS.map((c) => (
                    <td class="num" data-count={c} data-label={t("adm.feed." + c)}>
                      {f[c]}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </>
  );
}

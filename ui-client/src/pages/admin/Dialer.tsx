/**
 * The dialer tab: the callbacks waiting for the automatic dialer, soonest
 * first, and those every attempt failed (they are on the operators'
 * worklist), each linked to its request.
 */
import { useSession } from "../../app";
import { formatDateTime } from "../../lib/time";
import { Said, Scroll, useQuery } from "./shared";

const ITEM = `number callback { id status attempts nextAt } request { id }`;
const LOAD = `query { dialerQueue(first: 100) { configured queued { ${ITEM} } failed { ${ITEM} } } }`;

interface Item {
  number: string;
  callback: { id: string; status: string; attempts: number; nextAt: string };
  request: { id: string } | null;
}

/** What the dialer has to call, and what it could not. */
export function Dialer() {
  const { t } = useSession();
  const { data, error, reload } = useQuery<{ dialerQueue: { configured: boolean; queued: Item[]; failed: Item[] } }>(LOAD, {});
  const q = data?.dialerQueue;
  return (
    <>
      <Said error={error} />
      {q === undefined ? (
        !error && <p class="muted">…</p>
      ) : (
        <>
          <p class={q.configured ? "notice" : "adm-empty"} data-testid="dialer-configured" data-configured={String(q.configured)}>
            {q.configured ? t("adm.dial.on") : t("adm.dial.off")}{" "}
            <button type="button" class="link" onClick={reload}>
              {t("adm.reload")}
            </button>
          </p>
          <Queue title={t("adm.dial.queued")} empty={t("adm.dial.queuedNone")} items={q.queued} testid="dialer-queued" />
          <Queue title={t("adm.dial.failed")} empty={t("adm.dial.failedNone")} items={q.failed} testid="dialer-failed" />
        </>
      )}
    </>
  );
}

function Queue(p: { title: string; empty: string; items: Item[]; testid: string }) {
  const { t, lang } = useSession();
  const id = p.testid + "-h";
  return (
    <section class="adm-section" aria-labelledby={id}>
      <h2 id={id}>
        {p.title} <span class="muted">({p.items.length})</span>
      </h2>
      {p.items.length === 0 ? (
        <p class="muted" data-testid={p.testid + "-none"}>
          {p.empty}
        </p>
      ) : (
        <Scroll label={p.title}>
          <table class="adm-table adm-rows" data-testid={p.testid}>
            <thead>
              <tr>
                <th scope="col">{t("op.number")}</th>
                <th scope="col">{t("adm.dial.status")}</th>
                <th scope="col" class="num">
                  {t("adm.dial.attempts")}
                </th>
                <th scope="col">{t("adm.dial.nextAt")}</th>
              </tr>
            </thead>
            <tbody>
              {p.items.map((i) => (
                <tr data-callback={i.callback.id} data-number={i.number}>
                  <td data-label={t("op.number")}>{i.request ? <a href={`#/request/${i.request.id}`}>{i.number}</a> : i.number}</td>
                  <td data-label={t("adm.dial.status")}>{t("cbstatus." + i.callback.status)}</td>
                  <td class="num" data-label={t("adm.dial.attempts")}>{i.callback.attempts}</td>
                  <td class="small adm-nowrap" data-label={t("adm.dial.nextAt")}>{formatDateTime(i.callback.nextAt, lang)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </section>
  );
}

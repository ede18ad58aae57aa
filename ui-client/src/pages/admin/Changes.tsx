/**
 * The changes tab: the reference log, newest first — every change of
 * organizations, categories, routing, buildings, delivery, norms, hours and
 * tokens, with who made it and each field before and after.
 */
import { useState } from "preact/hooks";
import { useSession } from "../../app";
import { ChangeList, CHANGE_FIELDS, Said, useQuery, valueOf, type Change } from "./shared";

const LOAD = `query($kind: ReferenceKind, $first: Int!) { referenceChanges(kind: $kind, first: $first) { ${CHANGE_FIELDS} } }`;

export const REF_KINDS = ["ORGANIZATION", "CATEGORY", "ROUTING_RULE", "BUILDING", "DELIVERY", "CATEGORY_NORM", "WORKING_HOURS", "TOKEN"];
const SIZES = [50, 200, 500];

/** The log of reference changes, optionally of one kind. */
export function Changes() {
  const { t } = useSession();
  const [kind, setKind] = useState("");
  const [first, setFirst] = useState(50);
  const { data, error, reload } = useQuery<{ referenceChanges: Change[] }>(LOAD, { kind: kind || null, first }, [kind, first]);
  return (
    <>
      <Said error={error} />
      <form class="adm-grid adm-filters" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="changes-kind">{t("adm.changes.kind")}</label>
          <select id="changes-kind" name="kind" value={kind} onChange={(e) => setKind(valueOf(e))}>
            <option value="">{t("adm.changes.all")}</option>
            {REF_KINDS.map((k) => (
              <option value={k}>{t("adm.kind." + k)}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="changes-first">{t("adm.changes.first")}</label>
          <select id="changes-first" name="first" value={String(first)} onChange={(e) => setFirst(Number(valueOf(e)))}>
            {SIZES.map((n) => (
              <option value={String(n)}>{n}</option>
            ))}
          </select>
        </div>
        <div class="field adm-end">
          <button type="button" class="secondary" onClick={reload} data-testid="changes-reload">
            {t("adm.reload")}
          </button>
        </div>
      </form>
      {data === null ? !error && <p class="muted">…</p> : <ChangeList changes={data.referenceChanges} showRecord testid="changes" />}
    </>
  );
}

/**
 * Appeals to regional organizations (`#/appeals`, `#/appeals/<id>`;
 * supervisors and admins): the organizations of regional subordination
 * below the target over a chosen period, a letter drafted for one of them,
 * edited while a draft, recorded as sent under its outgoing number or
 * withdrawn with a reason, and downloaded as a Word document.
 *
 * The page lives in `plan/AppealsPage.tsx`, loaded on first use like the plan.
 */
import { Lazy } from "./Plan";

/** The appeals page; `param` is the open appeal's id, if any. */
export function Appeals(p: { param: string }) {
  return <Lazy load={() => import("./plan/AppealsPage").then((m) => m.AppealsPage)} props={{ id: p.param }} />;
}

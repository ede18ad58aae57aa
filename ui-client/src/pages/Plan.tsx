/**
 * The resource plan for the coming year (`#/plan`, supervisors and admins):
 * how many crews each organization needs for its requests to meet the
 * regulated deadlines with a chosen probability, what it has, and the
 * vehicles and materials the year takes, with the inputs they are made from
 * (category norms and working hours, which an admin edits).
 *
 * The page itself lives in `plan/PlanPage.tsx` and is loaded the first time
 * it opens, in a chunk of its own, as the administration's tabs are: an
 * operator's console never needs it.
 */
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useSession } from "../app";
import { ApiError } from "../lib/api";
import { errorText } from "../lib/errors";

/** A page loaded on first use: `…` meanwhile, the reason in words when it cannot be loaded. */
export function Lazy<P extends object>(p: { load: () => Promise<ComponentType<P>>; props: P }) {
  const { t } = useSession();
  const [Page, setPage] = useState<{ c: ComponentType<P> } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    p.load()
      .then((c) => setPage({ c }))
      .catch((e: Error) => setError(errorText(new ApiError(e.message, "NETWORK"), t)));
  }, []);
  if (error)
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  if (!Page) return <p class="muted">…</p>;
  return <Page.c {...p.props} />;
}

/** The resource plan's page. */
export function Plan() {
  return <Lazy load={() => import("./plan/PlanPage").then((m) => m.PlanPage)} props={{}} />;
}

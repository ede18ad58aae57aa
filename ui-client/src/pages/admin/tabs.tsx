/**
 * The administration's tabs by route name, in the order the page lists them.
 * Loaded on demand by `pages/Admin.tsx`: only an admin ever needs them, so
 * they stay out of the bundle every operator's console loads.
 */
import { Buildings } from "./Buildings";
import { Categories } from "./Categories";
import { Changes } from "./Changes";
import { Dialer } from "./Dialer";
import { Feeds } from "./Feeds";
import { Organizations } from "./Organizations";
import { Routing } from "./Routing";
import { Tokens } from "./Tokens";

export const TABS = {
  organizations: Organizations,
  categories: Categories,
  routing: Routing,
  buildings: Buildings,
  tokens: Tokens,
  feeds: Feeds,
  dialer: Dialer,
  changes: Changes,
};

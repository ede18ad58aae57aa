/** The request fields the boards ask for, matching `RequestRow`. */
export const ROW = `id number status version deadline registeredAt deadlineClass description escalation
  address { label } category { code name(lang: $lang) } organization { id name(lang: $lang) }
  applicant { name phone } incident { id title }`;

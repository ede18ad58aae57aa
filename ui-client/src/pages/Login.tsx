import { useState } from "preact/hooks";
import { useSession } from "../app";
import type { ApiError } from "../lib/api";
import { decodeClaims, expired } from "../lib/session";

/** Paste a token; the server says who it is and which page to open. */
export function Login() {
  const { t, login } = useSession();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const claims = decodeClaims(token);
    if (!claims) return setError(t("login.bad"));
    if (expired(claims, Date.now())) return setError(t("login.expired"));
    setBusy(true);
    try {
      await login(token);
    } catch (err) {
      setError((err as ApiError).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="login card">
      <h1>{t("login.title")}</h1>
      <p class="muted">{t("login.hint")}</p>
      <form onSubmit={submit}>
        <label>
          {t("login.token")}
          <textarea
            name="token"
            rows={4}
            value={token}
            autoFocus
            onInput={(e) => {
              setToken((e.target as HTMLTextAreaElement).value);
              setError(null);
            }}
          />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy || !token.trim()}>
          {t("login.submit")}
        </button>
      </form>
      <p>
        <a href="#/map">{t("login.publicMap")}</a>
      </p>
    </section>
  );
}

/**
 * The console's frame: configuration, the environment switcher (one click, always in the
 * header), who the user is (local: a typed user id and a minted token; production: a
 * pasted token), the server-reported environment banner, and the page the address names.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiFailure, apiClient, type ConsoleConfig, configSchema, type EnvConfig } from "./api";
import { Banner } from "./banner";
import { ConversationPage } from "./conversation";
import { ConversationsPage } from "./conversations";
import { mintLocalToken } from "./local-token";
import { OverviewPage } from "./overview";
import { RecordPage } from "./record";
import { navigate, type Route, routeHref, useRoute, type View } from "./route";
import { explain } from "./sentences";

/** Replaced at build time: the local build has token minting and the overview page, production has neither. */
const LOCAL = import.meta.env.MODE === "localstack";

function tokenStoreKey(env: string): string {
  return `tether.token.${env}`;
}

export function App() {
  const route = useRoute();
  const [config, setConfig] = useState<ConsoleConfig | undefined>();
  const [configError, setConfigError] = useState<string | undefined>();
  const [reported, setReported] = useState<string | undefined>();
  const [bannerError, setBannerError] = useState<string | undefined>();
  const [pageError, setPageError] = useState<string | undefined>();
  const [token, setToken] = useState<string | undefined>();
  const [userInput, setUserInput] = useState(route.user ?? "");

  useEffect(() => {
    fetch("./config.json")
      .then((r) => r.json())
      .then((body: unknown) => {
        const parsed = configSchema.safeParse(body);
        if (parsed.success) setConfig(parsed.data);
        else setConfigError("config.json does not list the environments (envs: [{name, ingress_url, api_url}])");
      })
      .catch(() => setConfigError("config.json cannot be read: is the console served with its configuration?"));
  }, []);

  // An unknown `?env=` is an error, never silently another environment.
  const unknownEnv = route.env !== undefined && config !== undefined && !config.envs.some((e) => e.name === route.env);
  const env = unknownEnv ? undefined : (config?.envs.find((e) => e.name === route.env) ?? config?.envs[0]);
  const go = (patch: Partial<Route>) => navigate({ ...route, env: env?.name, ...patch });
  const conversationHref = (id: string) => routeHref({ ...route, env: env?.name, view: "conversation", id });

  // The banner shows what this environment's API says it is.
  useEffect(() => {
    if (!env) return;
    setReported(undefined);
    setBannerError(undefined);
    setPageError(undefined);
    apiClient(env, undefined)
      .environment()
      .then(setReported)
      .catch(() => setBannerError(`the API at ${env.api_url} cannot be reached`));
  }, [env?.name]);

  // Who is calling: a minted local token, or the token pasted for this environment.
  useEffect(() => {
    if (!env) return;
    setToken(undefined);
    if (LOCAL) {
      if (route.user) {
        mintLocalToken(env.name, route.user)
          .then(setToken)
          .catch((e: unknown) => setPageError(`no token for ${route.user}: ${String(e)}`));
      }
    } else {
      setToken(sessionStorage.getItem(tokenStoreKey(env.name)) ?? undefined);
    }
  }, [env?.name, route.user]);

  const api = useMemo(() => (env && token ? apiClient(env, token) : undefined), [env?.name, token]);

  if (configError) return <p class="problem">{configError}</p>;
  if (config && unknownEnv) {
    return (
      <div class="problem" role="alert" data-testid="unknown-environment">
        <p>
          <strong>There is no environment “{route.env}” in this console.</strong> It knows{" "}
          {config.envs.map((e) => e.name).join(", ")}. Pick one:
        </p>
        <ul>
          {config.envs.map((e) => (
            <li key={e.name}>
              <a href={routeHref({ ...route, env: e.name })}>{e.name}</a>
            </li>
          ))}
        </ul>
      </div>
    );
  }
  if (config && config.envs.length === 0)
    return <p class="problem">config.json lists no environment: add one to its envs.</p>;
  if (!config || !env) return <p class="muted">Loading the console…</p>;

  /** A token for another environment of this console, if one can be had without asking. */
  const tokenFor = async (other: EnvConfig): Promise<string | undefined> => {
    if (LOCAL) return route.user ? await mintLocalToken(other.name, route.user) : undefined;
    return sessionStorage.getItem(tokenStoreKey(other.name)) ?? undefined;
  };
  /** The other environment that holds conversation `id` (it answers, or says it is another user's). */
  const locate = async (id: string): Promise<string | undefined> => {
    for (const other of config.envs.filter((e) => e.name !== env.name)) {
      const otherToken = await tokenFor(other).catch(() => undefined);
      if (otherToken === undefined) continue;
      try {
        await apiClient(other, otherToken).conversation(id);
        return other.name;
      } catch (error) {
        if (error instanceof ApiFailure && error.status === 403) return other.name;
      }
    }
    return undefined;
  };

  const freshToken = async (): Promise<string> => {
    if (LOCAL && route.user) return mintLocalToken(env.name, route.user); // a new one per connect: never expired
    if (token) return token;
    throw new Error("no access token");
  };
  const showError = (error: unknown) =>
    setPageError(
      (() => {
        const e = explain(error, { environment: env.name, ingressUrl: env.ingress_url });
        return `${e.title} ${e.action}`;
      })(),
    );
  const views: Array<[View, string]> = [
    ["record", "Record"],
    ["conversations", "Conversations"],
    ...(LOCAL ? ([["overview", "Overview"]] as Array<[View, string]>) : []),
  ];

  return (
    <div>
      <header class="top">
        <strong>tether console</strong>
        <nav class="envs" aria-label="environment">
          {config.envs.map((e) => (
            <button
              type="button"
              key={e.name}
              data-testid={`env-switch-${e.name}`}
              aria-pressed={e.name === env.name}
              onClick={() =>
                go({ env: e.name, view: route.view === "conversation" ? "conversations" : route.view, id: undefined })
              }
            >
              {e.name}
            </button>
          ))}
        </nav>
        <nav class="views">
          {views.map(([view, label]) => (
            <button
              type="button"
              key={view}
              aria-pressed={route.view === view}
              onClick={() => go({ view, id: undefined })}
            >
              {label}
            </button>
          ))}
        </nav>
        <form
          class="who"
          onSubmit={(e) => {
            e.preventDefault();
            if (LOCAL) go({ user: userInput.trim() || undefined });
            else {
              sessionStorage.setItem(tokenStoreKey(env.name), userInput.trim());
              setToken(userInput.trim() || undefined);
            }
          }}
        >
          {LOCAL ? (
            <label>
              local user{" "}
              <input data-testid="user-input" value={userInput} onInput={(e) => setUserInput(e.currentTarget.value)} />
            </label>
          ) : (
            <label>
              access token{" "}
              <input
                type="password"
                data-testid="token-input"
                value={userInput}
                onInput={(e) => setUserInput(e.currentTarget.value)}
              />
            </label>
          )}
          <button type="submit">Use</button>
        </form>
      </header>
      <Banner reported={reported} selected={env.name} error={bannerError} />
      {pageError ? (
        <p class="problem" role="alert" data-testid="page-error">
          {pageError}
        </p>
      ) : null}
      {!token ? (
        <p class="notice">
          {LOCAL
            ? "Type a local user id above (or open ?user=alice) to act as that user."
            : "Paste an access token for this environment above."}
        </p>
      ) : null}
      <main>
        {route.view === "record" && token ? (
          <RecordPage
            key={`${env.name}/${route.user ?? ""}`}
            environment={env.name}
            ingressUrl={env.ingress_url}
            token={freshToken}
            onReady={setReported}
            onOpen={(id) => go({ view: "conversation", id })}
            hrefFor={conversationHref}
            onSwitch={(name) => go({ env: name, view: "conversations", id: undefined })}
          />
        ) : null}
        {route.view === "conversations" && api ? (
          <ConversationsPage
            api={api}
            hrefFor={conversationHref}
            onOpen={(id) => go({ view: "conversation", id })}
            onError={showError}
          />
        ) : null}
        {route.view === "conversation" && api && route.id ? (
          <ConversationPage
            key={`${env.name}/${route.id}`}
            api={api}
            id={route.id}
            environment={env.name}
            locate={locate}
            hrefIn={(name) => routeHref({ ...route, env: name, view: "conversation" })}
            explainError={(error) => explain(error, { environment: env.name, ingressUrl: env.ingress_url })}
            onError={showError}
            notificationsEnv={LOCAL ? env?.name : undefined}
            onDeleted={() => go({ view: "conversations", id: undefined })}
          />
        ) : null}
        {LOCAL && route.view === "overview" ? <OverviewPage env={env.name} hrefFor={conversationHref} /> : null}
      </main>
    </div>
  );
}

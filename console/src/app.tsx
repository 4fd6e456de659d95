/**
 * The console's frame: configuration, the environment switcher (one click, always in the
 * header), who the user is (local: a typed user id and a minted token; production: a
 * pasted token), the server-reported environment banner, and the page the address names.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import { apiClient, type ConsoleConfig, configSchema } from "./api";
import { Banner } from "./banner";
import { ConversationPage } from "./conversation";
import { ConversationsPage } from "./conversations";
import { mintLocalToken } from "./local-token";
import { OperatorsPage } from "./operators";
import { RecordPage } from "./record";
import { navigate, type Route, routeHref, useRoute, type View } from "./route";
import { explain } from "./sentences";

/** Replaced at build time: the local build has token minting and the operators' page, production has neither. */
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

  const env = config?.envs.find((e) => e.name === route.env) ?? config?.envs[0];
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
  if (!config || !env) return <p class="muted">Loading the console…</p>;

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
    ...(LOCAL ? ([["operators", "Operators"]] as Array<[View, string]>) : []),
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
            api={api}
            id={route.id}
            onError={showError}
            notificationsEnv={LOCAL ? env?.name : undefined}
            onDeleted={() => go({ view: "conversations", id: undefined })}
          />
        ) : null}
        {LOCAL && route.view === "operators" ? <OperatorsPage envs={config.envs.map((e) => e.name)} /> : null}
      </main>
    </div>
  );
}

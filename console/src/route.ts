/**
 * The console's address: everything a link needs is in the query string, so
 * `?env=staging&user=alice&view=conversation&id=...` opens exactly that page.
 */
import { useEffect, useState } from "preact/hooks";

export type View = "record" | "conversations" | "conversation" | "overview";

export interface Route {
  readonly env: string | undefined;
  readonly user: string | undefined;
  readonly view: View;
  readonly id: string | undefined;
}

const VIEWS: readonly View[] = ["record", "conversations", "conversation", "overview"];

export function readRoute(search: string): Route {
  const params = new URLSearchParams(search);
  const view = params.get("view");
  return {
    env: params.get("env") ?? undefined,
    user: params.get("user") ?? undefined,
    // `operators` is the overview's old name: old links still open it.
    view: view === "operators" ? "overview" : (VIEWS.find((v) => v === view) ?? "record"),
    id: params.get("id") ?? undefined,
  };
}

export function routeHref(route: Route): string {
  const params = new URLSearchParams();
  if (route.env) params.set("env", route.env);
  if (route.user) params.set("user", route.user);
  if (route.view !== "record") params.set("view", route.view);
  if (route.id) params.set("id", route.id);
  return `?${params.toString()}`;
}

export function navigate(route: Route): void {
  history.pushState(null, "", routeHref(route));
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => readRoute(location.search));
  useEffect(() => {
    const update = () => setRoute(readRoute(location.search));
    addEventListener("popstate", update);
    return () => removeEventListener("popstate", update);
  }, []);
  return route;
}

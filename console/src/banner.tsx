/**
 * The environment banner: always visible, colour-coded, and showing only what a server
 * said (the API's `/healthz`, then each `ready`), never a name guessed from a URL.
 * Production looks unlike anything else: its own red, striped, labelled, and a prefix on
 * the tab's title, so two tabs side by side cannot be confused.
 */
import { useEffect } from "preact/hooks";

const COLOURS: Record<string, string> = { staging: "#5925dc", dev: "#067647" };
const PRODUCTION_COLOUR = "#b42318";

/** `prod`, `production`, or a regional name like `prod-eu`. Pure. */
export function isProduction(name: string): boolean {
  return name === "prod" || name === "production" || name.startsWith("prod-");
}

export function environmentColour(name: string): string {
  if (isProduction(name)) return PRODUCTION_COLOUR;
  if (COLOURS[name]) return COLOURS[name];
  // Any other name: a hue kept away from production's reds and oranges.
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) % 200;
  return `hsl(${hash + 90} 55% 32%)`;
}

/** The tab's title: production is prefixed, so it reads differently in the tab strip. Pure. */
export function pageTitle(environment: string | undefined): string {
  if (environment === undefined) return "tether console";
  return `${isProduction(environment) ? "PROD ⚠ " : ""}${environment} · tether console`;
}

export function Banner(props: { reported: string | undefined; selected: string; error: string | undefined }) {
  const { reported, selected } = props;
  const production = reported !== undefined && isProduction(reported);
  useEffect(() => {
    document.title = pageTitle(reported ?? selected);
  }, [reported, selected]);
  const colour = reported ? environmentColour(reported) : "#475467";
  return (
    <div
      class={production ? "banner banner-production" : "banner"}
      style={{ backgroundColor: colour }}
      data-testid="banner"
      data-production={production ? "true" : "false"}
    >
      <span class="banner-label">{reported ? "server reports environment" : "asking the server…"}</span>
      <strong data-testid="environment-banner" data-environment={reported ?? ""} class="banner-env">
        {reported ?? ""}
      </strong>
      {production ? <span class="banner-production-label">production: real users' data</span> : null}
      {reported && reported !== selected ? (
        <span class="banner-warning">but you selected {selected}: the URLs of these environments are mixed up</span>
      ) : null}
      {props.error ? <span class="banner-warning">{props.error}</span> : null}
    </div>
  );
}

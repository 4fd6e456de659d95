/**
 * The environment banner: always visible, colour-coded, and showing only what a server
 * said (the API's `/healthz`, then each `ready`), never a name guessed from a URL.
 */
const COLOURS: Record<string, string> = { prod: "#b42318", staging: "#b54708", dev: "#067647" };

export function environmentColour(name: string): string {
  if (COLOURS[name]) return COLOURS[name];
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${hash} 55% 35%)`;
}

export function Banner(props: { reported: string | undefined; selected: string; error: string | undefined }) {
  const { reported, selected } = props;
  const colour = reported ? environmentColour(reported) : "#475467";
  return (
    <div class="banner" style={{ background: colour }}>
      <span class="banner-label">{reported ? "server reports environment" : "asking the server…"}</span>
      <strong data-testid="environment-banner" data-environment={reported ?? ""} class="banner-env">
        {reported ?? ""}
      </strong>
      {reported && reported !== selected ? (
        <span class="banner-warning">but you selected {selected}: the URLs of these environments are mixed up</span>
      ) : null}
      {props.error ? <span class="banner-warning">{props.error}</span> : null}
    </div>
  );
}

/**
 * Local stack only: asks the console server for a token for a typed user id, signed with
 * the environment's local key (the key never reaches the page). The console imports this
 * only behind `import.meta.env.MODE === "localstack"`, so a production build does not contain it.
 */
export async function mintLocalToken(env: string, user: string): Promise<string> {
  const response = await fetch("./local/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ env, user }),
  });
  const body = (await response.json()) as { token?: string; error?: { message: string } };
  if (!response.ok || typeof body.token !== "string") throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body.token;
}

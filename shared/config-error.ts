/** A setting is missing or invalid: the message names the variable and what was wrong. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

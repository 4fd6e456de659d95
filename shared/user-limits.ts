/**
 * The per-user limits of PROTOCOL.md (close code 4429, error `too_many`): their names, as
 * a refusal's `limit` field says them, and their defaults. Each has a setting per stack
 * (shared/config.ts, infra/config.ts). Zod-free, so the browser SDK can import it.
 */

export const USER_LIMIT_NAMES = [
  /** Sockets of one user open at once, across every ingress instance. */
  "live_sockets",
  /** Conversations one user starts in a minute (resumes do not count). */
  "conversations_per_minute",
  /** A conversation's audio, in seconds (an Opus packet counts as 20 ms). */
  "conversation_audio_seconds",
  /** Distinct segment ids in one conversation. */
  "conversation_segments",
] as const;
export type UserLimitName = (typeof USER_LIMIT_NAMES)[number];

export type UserLimits = Readonly<Record<UserLimitName, number>>;

export const DEFAULT_USER_LIMITS: UserLimits = {
  live_sockets: 20,
  conversations_per_minute: 30,
  conversation_audio_seconds: 4 * 60 * 60,
  conversation_segments: 10_000,
};

/**
 * Every way a recording can stop, as a sentence a person understands with what to do
 * next. The SDK reports codes (TetherError, MicrophoneError); this is their wording.
 */
import { MicrophoneError, TetherError } from "@tether/client";
import { ApiFailure } from "./api";

export interface Explained {
  readonly title: string;
  readonly action: string;
  /** The environment the conversation belongs to, when the fix is to go there. */
  readonly switchTo?: string;
}

export function explain(error: unknown, context: { environment: string; ingressUrl: string }): Explained {
  if (error instanceof MicrophoneError) {
    if (error.reason === "refused") {
      return {
        title: "The browser refused the microphone.",
        action:
          "Allow microphone access for this page (the icon in the address bar), then press Record again, or record from a WAV file.",
      };
    }
    return {
      title: `No microphone could be used: ${error.message}.`,
      action: "Connect a microphone, or record from a WAV file.",
    };
  }
  if (error instanceof ApiFailure) {
    if (error.status === 401)
      return { title: "Your access token expired or is not valid here.", action: "Get a new token and try again." };
    if (error.status === 404)
      return {
        title: `Not found in ${context.environment}: ${error.message}.`,
        action: "Check the id, or pick the conversation from the Conversations list.",
      };
    if (error.status === 403)
      return { title: `${error.message}.`, action: "Open it as its owner (the user field above)." };
    if (error.code === "unreachable")
      return { title: `${error.message}.`, action: "Check that the stack is running (npm start), then reload." };
    if (error.status >= 500 || error.code === "bad_response")
      return {
        title: `The API failed: ${error.message}.`,
        action: "Reload in a moment; if it persists, ask an operator.",
      };
    return { title: `${error.message}.`, action: "Fix the request; reloading will not change the answer." };
  }
  if (error instanceof TetherError) {
    switch (error.code) {
      case "wrong_environment": {
        const pinned = error.details.expectedEnvironment ?? "another environment";
        return {
          title: `This conversation is pinned to ${pinned}; continue it there.`,
          action: `Switch to ${pinned} and resume it from there; it can never continue in ${context.environment}.`,
          ...(error.details.expectedEnvironment ? { switchTo: error.details.expectedEnvironment } : {}),
        };
      }
      case "environment_changed":
        return {
          title: `A reconnect reached another environment than the one this conversation lives in.`,
          action: "The recording stopped so that nothing is stored in the wrong place; start a new recording.",
        };
      case "unauthorized":
        return {
          title: "Your access token expired or is not valid for this environment.",
          action: "Get a new token, then start a new recording.",
        };
      case "forbidden":
        return {
          title: "This conversation belongs to another user.",
          action: "Sign in as its owner, or start a new conversation.",
        };
      case "conversation_finalized":
        return {
          title: "This conversation was already finalized.",
          action: "Start a new conversation; nothing more can be added to this one.",
        };
      case "unreachable":
        return {
          title: `The ingress at ${context.ingressUrl} cannot be reached.`,
          action:
            "Check your network and that the stack is running, then start a new recording; the audio already acknowledged is stored.",
        };
      case "bad_audio":
      case "frame_too_large":
      case "bad_request":
        return {
          title: `The server refused the audio: ${error.message}.`,
          action: "Pick another codec or sample rate and record again.",
        };
      case "position_mismatch":
      case "protocol_violation":
        return {
          title: `The server and this page disagree: ${error.message}.`,
          action: "Start a new recording and report this to an operator.",
        };
      case "closed":
        return { title: "The recording was stopped.", action: "Start a new recording when you are ready." };
      default:
        return { title: error.message, action: "Start a new recording." };
    }
  }
  return { title: error instanceof Error ? error.message : String(error), action: "Reload the page and try again." };
}

/** The line shown while the SDK waits to reconnect. */
export function reconnectingSentence(secondsLeft: number, attempt: number, ingressUrl: string): string {
  return `The connection to ${ingressUrl} was lost. Retrying in ${secondsLeft} s (attempt ${attempt}); your audio is kept and will be re-sent.`;
}

// shared/close-codes.ts: the close-code table of PROTOCOL.md section 2 and what a client does on each code.
import { CLOSE_CODES, clientActionForClose, ERROR_CODES, errorCodeForClose } from "../../shared/close-codes";

describe("the close-code table", () => {
  it("maps every error code of PROTOCOL.md to its close code", () => {
    expect(Object.fromEntries(ERROR_CODES.map((code) => [code, CLOSE_CODES[code].closeCode]))).toEqual({
      internal: 1011,
      restarting: 1012,
      overloaded: 1013,
      superseded: 4001,
      bad_request: 4400,
      unauthorized: 4401,
      forbidden: 4403,
      wrong_environment: 4409,
      conversation_finalized: 4410,
      frame_too_large: 4413,
      bad_audio: 4415,
      too_many: 4429,
    });
  });

  it("tells a client what to do: resume on faults, stop on everything else", () => {
    expect(clientActionForClose(1000)).toBe("stop");
    expect(clientActionForClose(1006)).toBe("resume"); // the network dropped
    expect(clientActionForClose(1011)).toBe("resume");
    expect(clientActionForClose(1012)).toBe("resume");
    expect(clientActionForClose(1013)).toBe("resume_after_delay");
    expect(clientActionForClose(4001)).toBe("stop_socket");
    expect(clientActionForClose(4401)).toBe("reauthenticate");
    expect(clientActionForClose(4409)).toBe("reconnect_pinned_environment");
    expect(clientActionForClose(4410)).toBe("start_new_conversation");
    for (const code of [4400, 4413, 4415]) expect(clientActionForClose(code)).toBe("fix_client");
    expect(clientActionForClose(4429)).toBe("per_limit"); // the error's `limit` decides
    expect(errorCodeForClose(4409)).toBe("wrong_environment");
    expect(errorCodeForClose(1006)).toBeUndefined();
  });
});

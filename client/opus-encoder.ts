/**
 * PCM16 to Opus packets (20 ms each), with opusscript (libopus compiled to wasm, installs
 * offline), for the command-line client and tests that stream Opus.
 */
import OpusScript from "opusscript";
import type { SampleRate } from "../shared/audio-format";

/** 20 ms packets: the protocol sizes Opus chunks at 50 packets a second. */
export const OPUS_FRAME_MS = 20;

export function encodeOpusPackets(pcm: Buffer, sampleRate: SampleRate): Buffer[] {
  const encoder = new OpusScript(sampleRate, 1, OpusScript.Application.VOIP);
  try {
    const frameSamples = (sampleRate * OPUS_FRAME_MS) / 1000;
    const frameBytes = frameSamples * 2;
    const packets: Buffer[] = [];
    for (let offset = 0; offset < pcm.length; offset += frameBytes) {
      let frame = pcm.subarray(offset, offset + frameBytes);
      if (frame.length < frameBytes) frame = Buffer.concat([frame, Buffer.alloc(frameBytes - frame.length)]);
      packets.push(Buffer.from(encoder.encode(frame, frameSamples)));
    }
    return packets;
  } finally {
    encoder.delete();
  }
}

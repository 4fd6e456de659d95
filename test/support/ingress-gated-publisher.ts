/**
 * The real publisher (to the emulator), with chunk publishes (and, with `gateEvents`, text
 * events) held at a gate the test opens: a pipeline that cannot keep up, on demand, without
 * timing.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { CutChunk } from "../../functions/ingress/chunker";
import { type AudioFormat, IngressPublisher, type SessionTags } from "../../functions/ingress/publisher";
import type { EnvironmentRuntime } from "../../functions/runtime";
import type { EnvironmentResources } from "../../shared/environment";
import type { EventBody } from "../../shared/messages";

export class GatedPublisher extends IngressPublisher {
  /** Chunk publishes waiting at the gate. */
  waiting = 0;
  /** Text events (segments, assignments) waiting at the gate, when they are gated. */
  eventsWaiting = 0;
  private open = false;
  private readonly waiters: Array<() => void> = [];

  constructor(
    pubsub: PubSub,
    resources: EnvironmentResources,
    private readonly gateEvents = false,
  ) {
    super(pubsub, resources);
  }

  static factory(
    holder: { publisher?: GatedPublisher },
    options: { gateEvents?: boolean } = {},
  ): (runtime: EnvironmentRuntime) => IngressPublisher {
    return (runtime) => {
      holder.publisher = new GatedPublisher(runtime.clients.pubsub, runtime.resources, options.gateEvents);
      return holder.publisher;
    };
  }

  private async gate(): Promise<void> {
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  override async publishChunk(tags: SessionTags, format: AudioFormat, chunk: CutChunk): Promise<string> {
    if (!this.open) {
      this.waiting += 1;
      await this.gate();
      this.waiting -= 1;
    }
    return await super.publishChunk(tags, format, chunk);
  }

  override async publishEvent(tags: SessionTags, body: EventBody, seq: number): Promise<string> {
    if (this.gateEvents && !this.open && body.type !== "finalize") {
      this.eventsWaiting += 1;
      await this.gate();
      this.eventsWaiting -= 1;
    }
    return await super.publishEvent(tags, body, seq);
  }

  release(): void {
    this.open = true;
    for (const wake of this.waiters.splice(0)) wake();
  }
}

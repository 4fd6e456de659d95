/**
 * The real publisher (to the emulator), with chunk publishes held at a gate the test opens:
 * a pipeline that cannot keep up, on demand, without timing.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { Chunk } from "../../functions/ingress/chunker";
import { type AudioFormat, IngressPublisher, type SessionTags } from "../../functions/ingress/publisher";
import type { EnvironmentRuntime } from "../../functions/runtime";
import type { EnvironmentResources } from "../../shared/environment";

export class GatedPublisher extends IngressPublisher {
  /** Chunk publishes waiting at the gate. */
  waiting = 0;
  private open = false;
  private readonly waiters: Array<() => void> = [];

  constructor(pubsub: PubSub, resources: EnvironmentResources) {
    super(pubsub, resources);
  }

  static factory(holder: { publisher?: GatedPublisher }): (runtime: EnvironmentRuntime) => IngressPublisher {
    return (runtime) => {
      holder.publisher = new GatedPublisher(runtime.clients.pubsub, runtime.resources);
      return holder.publisher;
    };
  }

  override async publishChunk(tags: SessionTags, format: AudioFormat, chunk: Chunk): Promise<string> {
    if (!this.open) {
      this.waiting += 1;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.waiting -= 1;
    }
    return await super.publishChunk(tags, format, chunk);
  }

  release(): void {
    this.open = true;
    for (const wake of this.waiters.splice(0)) wake();
  }
}

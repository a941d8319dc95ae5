import type { Operation } from "effection";
import { DONE } from "../core/done.js";
import type { Message, TopicListener } from "./broker.js";

/**
 * The live listeners (hubs) of one broker topic: what every broker does with
 * them, in one place. A delivery goes to each listener in turn; before it, the
 * broker waits with {@link untilReady} while any listener is not ready (a
 * `block` subscription's queue is full). The memory broker waits in its
 * publishers, the Redis broker in its reader.
 *
 * Internal to the brokers (not exported from `bough/hub`).
 *
 * @example
 * ```ts
 * const listeners = new ListenerSet<string>();
 * const unlisten = listeners.add(hub);
 * yield* listeners.untilReady();
 * listeners.deliver(message);
 * unlisten();
 * ```
 */
export class ListenerSet<T> {
  private readonly listeners = new Set<TopicListener<T>>();

  /** Adds `listener`; returns its removal. */
  add(listener: TopicListener<T>): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Returns once every listener is ready at the same time (at once if they
   * are). Each wait is for one listener that is not; they are all checked
   * again after it, since another delivery may have filled one meanwhile.
   */
  untilReady(): Operation<void> {
    // once per publish: no generator when every listener is ready (the common case)
    return this.notReady() === undefined ? DONE : this.waitUntilReady();
  }

  private *waitUntilReady(): Operation<void> {
    for (let waiting = this.notReady(); waiting; waiting = this.notReady()) {
      yield* waiting.waitReady();
    }
  }

  /** Hands `message` to every listener, in the order they were added. */
  deliver(message: Message<T>): void {
    for (const listener of this.listeners) listener.deliver(message);
  }

  private notReady(): TopicListener<T> | undefined {
    for (const listener of this.listeners) if (!listener.ready) return listener;
    return undefined;
  }
}

import type { Operation } from "effection";
import { DONE } from "../core/done.js";
import { closeLabel, type LabelNode, type LabelOptions, openLabel } from "../core/labels.js";
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
 * // while the task tree is watched: the same, as a "hub delivery" node
 * listeners.deliverWatched(message, "jobs", labelOf(yield* useScope()));
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

  /**
   * {@link deliver}, shown in a watched task tree as a `"hub delivery"` node
   * under `parent`, linked to the publish span whose `traceparent` the
   * message carries (both brokers deliver this way while the tree is watched).
   */
  deliverWatched(message: Message<T>, topic: string, parent: LabelNode): void {
    const traceparent = message.traceparent;
    const node = openLabel(parent, `deliver ${topic}`, {
      kind: "hub delivery",
      attributes: { "bough.hub.topic": topic, "bough.hub.id": message.id },
      links: traceparent === undefined ? undefined : [traceparent],
    });
    try {
      this.deliver(message);
    } finally {
      closeLabel(node);
    }
  }

  private notReady(): TopicListener<T> | undefined {
    for (const listener of this.listeners) if (!listener.ready) return listener;
    return undefined;
  }
}

/**
 * The node a publish on `topic` is while the task tree is watched (both
 * brokers): kind `"hub publish"`, with the topic as an attribute.
 *
 * @example
 * ```ts
 * yield* withLabelNode(parent, `publish ${topic}`, publishLabel(topic), (node) => send(node));
 * ```
 */
export function publishLabel(topic: string): LabelOptions {
  return { kind: "hub publish", attributes: { "bough.hub.topic": topic } };
}

/**
 * `bough/hub`: bounded fan-out of messages to many subscribers, with cursors
 * and long-poll, in memory by default. The Redis broker and the leader lease
 * live in `bough/hub/redis`, so that this entry never loads ioredis.
 *
 * @module bough/hub
 */
export type {
  Broker,
  BrokerCounters,
  BrokerTopic,
  HistoryPage,
  Message,
  TopicListener,
} from "./broker.js";
export {
  CursorExpiredError,
  HubClosedError,
  InvalidCursorError,
  LeaseLostError,
  PublishTimeoutError,
  SubscriptionOverflowError,
  UnserializableValueError,
} from "./errors.js";
export {
  type Hub,
  type HubLag,
  type HubOptions,
  type HubStats,
  type MessageSubscription,
  type OverflowPolicy,
  type SubscribeOptions,
  useHub,
} from "./hub.js";
export { createMemoryBroker } from "./memory-broker.js";

/**
 * Tick sources: the drift-free `ticker`, `poll` (a timer plus coalesced kicks) and `useUdpSocket`.
 *
 * @module bough/sources
 */
export { PortInUseError, UdpSocketError } from "./errors.js";
export {
  type PollOptions,
  type PollReason,
  poll,
} from "./poll.js";
export {
  type MissedTickPolicy,
  type Tick,
  type TickerOptions,
  ticker,
} from "./ticker.js";
export {
  type Datagram,
  type UdpSocket,
  type UdpSocketOptions,
  type UdpSocketStats,
  useUdpSocket,
} from "./udp-socket.js";

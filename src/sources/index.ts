/**
 * Tick sources: the drift-free `ticker`, `poll` (a timer plus coalesced kicks) and `useUdpSocket`.
 *
 * @module bough/sources
 */
export { PortInUseError, UdpSocketError } from "./errors.js";
export * from "./poll.js";
export * from "./ticker.js";
export * from "./udp-socket.js";

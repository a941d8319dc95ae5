export { PortInUseError, UdpSocketError } from "./errors.js";
export * from "./poll.js";
export * from "./ticker.js";
export * from "./udp-socket.js";

/**
 * UDP for wirelab hosts: the port table and demux (udp.ts) and Node-style
 * dgram sockets (socket.ts). Hand-written; see those files for why.
 */
export {
  UdpLayer,
  udpErrorForIcmp,
  type IpSender,
  type UdpLayerOptions,
  type UdpStats,
  type UdpSocketInfo,
  type UdpQuote,
  type UdpIcmpErrorCode,
} from './udp.js';
export {
  UdpSocket,
  systemError,
  type AddressInfo,
  type BindOptions,
  type ConnectCallback,
  type RemoteInfo,
  type SendCallback,
  type SendMessage,
  type UdpError,
  type UdpSocketEvents,
  type UdpSocketOptions,
} from './socket.js';

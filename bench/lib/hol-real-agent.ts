/**
 * The program the real-time HOL benchmark (./hol-real.ts) runs inside its two
 * containers: Python 3 on the KERNEL's TCP and UDP sockets, one role per
 * process (`recv` or `send`), configured by one JSON argument
 * (`HolAgentConfig`). Written to a temp file and run with `python3 FILE JSON`.
 *
 * Every message is `messageBytes` long and begins with its sequence number
 * and its send time (`!IQ`: uint32 seq, uint64 CLOCK_MONOTONIC ns), padded
 * with zeros. CLOCK_MONOTONIC is one clock for every namespace of a host, so
 * the receiver's receive times and the sender's send times are comparable.
 *
 * Sender: prints `ready`, waits for `go` on its stdin (it starts alongside
 * the receiver, whose start-up it must not race), opens its sockets
 * (connections are made before the clock starts),
 * then sends message i at `start + slot(i)` — `i × interval` (steady) or
 * `⌊i / burst⌋ × burst × interval` (bursts back to back) — reading the clock
 * just before handing the message to the socket.
 *   - tcp / tcp-n: TCP_NODELAY on every connection, so Nagle never holds a
 *     small message back waiting for an ACK (the delay measured is the
 *     network's and TCP's recovery, not Nagle's); the send buffer is forced
 *     large (SO_SNDBUFFORCE) so `sendall` never blocks and a stall never
 *     delays later send times; messages go round robin over the connections,
 *     framed by their fixed size on the stream. After the last one: shutdown
 *     for writing and wait (bounded by the drain) for the receiver to close.
 *   - udp: one datagram per message.
 *   - udp-rtx: the receiver ACKs every copy it gets (4-byte seq); the sender
 *     resends a message not ACKed `rtoMs` after its last (re)send, until it is
 *     ACKed or the drain after the last scheduled send has passed.
 * Writes `start NS`, `resends K` and one `SEQ SEND_NS` line per message sent
 * to its output file.
 *
 * Receiver: prints `ready` once it listens, then records each message the
 * first time it is whole (`SEQ RECV_NS`; duplicates are dropped) — for TCP,
 * every message completed by one read shares that read's time, which is
 * exactly when the application could have had them. It stops when every
 * message has arrived (except udp-rtx's, which keeps acknowledging the
 * sender's resends), when every TCP connection has ended, when anything (a
 * line or EOF) arrives on its stdin, or at its lifetime bound.
 */

export interface HolAgentConfig {
  role: 'recv' | 'send';
  transport: 'tcp' | 'tcp-n' | 'udp' | 'udp-rtx';
  /** The receiver's address and port (the receiver binds it, the sender sends to it). */
  ip: string;
  port: number;
  messages: number;
  /** Bytes per message, ≥ 12 (the header). */
  size: number;
  intervalNs: number;
  pattern: 'steady' | 'burst';
  burst: number;
  /** TCP connections (1 for `tcp`). */
  connections: number;
  /** udp-rtx's retransmission timeout. */
  rtoMs: number;
  /** How long the sender keeps going after its last scheduled send (TCP: waits for the close; udp-rtx: resends). */
  drainMs: number;
  connectTimeoutMs: number;
  /** Socket buffer size forced on every socket. */
  bufBytes: number;
  /** The process ends by this long after it started, whatever happens. */
  lifetimeMs: number;
  /** Where the results go. */
  out: string;
}

/** The agent's source (Python 3.8+; standard library only). */
export const HOL_AGENT_PY = String.raw`
import heapq, json, selectors, socket, struct, sys, time

cfg = json.loads(sys.argv[1])
HDR = struct.Struct('!IQ')   # seq, send time (CLOCK_MONOTONIC ns)
ACK = struct.Struct('!I')
now = time.monotonic_ns
N = cfg['messages']
SIZE = cfg['size']
T = cfg['transport']
TCP = T in ('tcp', 'tcp-n')
RTX = T == 'udp-rtx'
ADDR = (cfg['ip'], cfg['port'])
MS = 1000000
END = now() + int(cfg['lifetimeMs'] * MS)
READ = selectors.EVENT_READ
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33   # Linux; root may exceed wmem_max / rmem_max


def big_buffers(s):
    for force, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF), (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
        try:
            s.setsockopt(socket.SOL_SOCKET, force, cfg['bufBytes'])
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, plain, cfg['bufBytes'])


def receive():
    got = {}
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin.fileno(), READ, 'stdin')
    conns = cfg['connections'] if TCP else 0
    accepted = closed = 0
    if TCP:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        big_buffers(ls)
        ls.bind(ADDR)
        ls.listen(conns)
        ls.setblocking(False)
        sel.register(ls, READ, 'listen')
    else:
        us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        big_buffers(us)
        us.bind(ADDR)
        us.setblocking(False)
        sel.register(us, READ, 'udp')
    print('ready', flush=True)
    stop = False
    # udp-rtx keeps ACKing after it has everything: the sender may still be missing ACKs and resending.
    while not stop and (RTX or len(got) < N) and now() < END:
        for key, _ in sel.select(0.2):
            what = key.data
            if what == 'stdin':
                stop = True
            elif what == 'listen':
                c, _ = ls.accept()
                c.setblocking(False)
                sel.register(c, READ, bytearray())
                accepted += 1
                if accepted == conns:
                    sel.unregister(ls)
                    ls.close()
            elif what == 'udp':
                while True:
                    try:
                        d, peer = us.recvfrom(65536)
                    except BlockingIOError:
                        break
                    t = now()
                    if len(d) < HDR.size:
                        continue
                    seq = HDR.unpack_from(d)[0]
                    if seq not in got:
                        got[seq] = t
                    if RTX:
                        try:
                            us.sendto(ACK.pack(seq), peer)   # every copy: an earlier ACK may have been lost
                        except OSError:
                            pass
            else:
                c = key.fileobj
                d = c.recv(1 << 16)
                t = now()
                if not d:
                    sel.unregister(c)
                    c.close()
                    closed += 1
                    if closed == conns:
                        stop = True
                    continue
                what += d
                k = len(what) // SIZE
                for i in range(k):
                    seq = HDR.unpack_from(what, i * SIZE)[0]
                    if seq not in got:
                        got[seq] = t
                del what[:k * SIZE]
    for key in list(sel.get_map().values()):
        if key.data != 'stdin':
            key.fileobj.close()
    with open(cfg['out'], 'w') as f:
        f.write(''.join('%d %d\n' % kv for kv in got.items()))
    print('done', len(got), flush=True)


def slot(i):
    if cfg['pattern'] == 'burst':
        b = cfg['burst']
        return (i // b) * b * cfg['intervalNs']
    return i * cfg['intervalNs']


def send():
    print('ready', flush=True)
    if not sys.stdin.readline().startswith('go'):   # started at the same time as the receiver: go once it listens
        return
    pad = bytes(SIZE - HDR.size)
    socks = []
    sel = selectors.DefaultSelector()
    if TCP:
        for _ in range(cfg['connections']):
            s = socket.socket()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            big_buffers(s)
            s.settimeout(cfg['connectTimeoutMs'] / 1000)
            s.connect(ADDR)
            s.settimeout(None)
            socks.append(s)
    else:
        us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        big_buffers(us)
        us.connect(ADDR)
        us.setblocking(False)
        sel.register(us, READ)

    def dgram(payload):
        try:
            us.send(payload)
        except (BlockingIOError, ConnectionRefusedError):
            pass

    sent = []
    unacked = {}
    heap = []
    rto = int(cfg['rtoMs'] * MS)
    drain = int(cfg['drainMs'] * MS)
    resends = 0
    start = now() + 20 * MS   # a short lead, so the first message leaves on schedule
    i = 0
    drain_end = start + slot(N - 1) + drain
    while now() < END:
        t = now()
        while i < N and start + slot(i) <= t:
            t = now()
            payload = HDR.pack(i, t) + pad
            if TCP:
                socks[i % len(socks)].sendall(payload)
            else:
                dgram(payload)
            sent.append(t)
            if RTX:
                unacked[i] = payload
                heapq.heappush(heap, (t + rto, i))
            i += 1
        if RTX:
            while True:
                try:
                    d = us.recv(64)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                if len(d) >= ACK.size:
                    unacked.pop(ACK.unpack_from(d)[0], None)
            t = now()
            while heap and heap[0][0] <= t:
                _, seq = heapq.heappop(heap)
                if seq in unacked:
                    dgram(unacked[seq])
                    resends += 1
                    heapq.heappush(heap, (t + rto, seq))
        if i >= N and (not RTX or not unacked or now() >= drain_end):
            break
        nxt = start + slot(i) if i < N else drain_end
        while heap and heap[0][1] not in unacked:
            heapq.heappop(heap)
        if heap:
            nxt = min(nxt, heap[0][0])
        wait = max(0, nxt - now()) / 1e9
        if RTX:
            sel.select(wait)
        elif wait > 0:
            time.sleep(wait)
    if TCP:
        # Everything is in the kernel's hands; wait (bounded) until the receiver has it all and closes.
        for s in socks:
            s.shutdown(socket.SHUT_WR)
        until = max(now(), drain_end)
        for s in socks:
            try:
                while True:
                    left = (until - now()) / 1e9
                    if left <= 0:
                        break
                    s.settimeout(left)
                    if not s.recv(4096):
                        break
            except OSError:
                pass
            s.close()
    with open(cfg['out'], 'w') as f:
        f.write('start %d\nresends %d\n' % (start, resends))
        f.write(''.join('%d %d\n' % (seq, t) for seq, t in enumerate(sent)))
    print('done', len(sent), flush=True)


if cfg['role'] == 'recv':
    receive()
else:
    send()
`;

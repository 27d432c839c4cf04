"""Connections and HTTP/1.1 exchanges in a packet capture, for bench/timeline.

Reads a capture with dpkt (installed on first use when missing), follows each TCP connection
to the server port (a reused client port with a new initial sequence number starts a new
connection), frames both byte streams into HTTP messages, pairs requests with responses in
order, and flags the silences inside each request with what the connection waited on. The
report and the command line live in bench/timeline.
"""

import bisect
import shutil
import struct
import subprocess
import sys


def install_dpkt():
    """Installs dpkt once: from PyPI, or Debian's python3-dpkt where pip refuses (PEP 668)."""
    print("bench/timeline: installing dpkt", file=sys.stderr)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "dpkt"]
    if subprocess.run(pip).returncode == 0:
        return
    if sys.executable.startswith("/usr/bin/") and shutil.which("apt-get"):
        apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "python3-dpkt"]
        if subprocess.run(apt).returncode == 0:
            return
    raise SystemExit("bench/timeline: cannot install dpkt (pip install dpkt, or apt-get "
                     "install python3-dpkt)")


try:
    import dpkt
except ImportError:
    install_dpkt()
    import dpkt

MOD32 = 1 << 32
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
METHODS = (
    b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
    b"CONNECT ", b"TRACE ",
)
MAX_HEAD = 64 * 1024


def ms(seconds):
    return seconds * 1000.0


# ---------------------------------------------------------------------------------------
# Capture reading


def open_capture(path):
    """Yields (timestamp, IPv4 packet bytes, captured IP bytes are truncated?) per frame."""
    f = open(path, "rb")
    magic = f.read(4)
    f.seek(0)
    if magic == b"\x0a\x0d\x0d\x0a":
        reader = dpkt.pcapng.Reader(f)
    else:
        reader = dpkt.pcap.Reader(f)
    link = reader.datalink()
    for ts, buf in reader:
        ip = None
        try:
            if link == dpkt.pcap.DLT_EN10MB:
                eth = dpkt.ethernet.Ethernet(buf)
                ip = eth.data
            elif link == dpkt.pcap.DLT_LINUX_SLL:
                ip = dpkt.sll.SLL(buf).data
            elif link == 276:  # LINKTYPE_LINUX_SLL2 (tcpdump -i any, recent versions)
                ip = dpkt.sll2.SLL2(buf).data
            elif link in (dpkt.pcap.DLT_RAW, 101, 228):  # raw IP / LINKTYPE_IPV4
                ip = dpkt.ip.IP(buf)
            else:
                raise SystemExit(f"bench/timeline: {path}: unsupported link type {link}")
        except (dpkt.UnpackError, struct.error, IndexError):
            continue
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP):
            yield float(ts), ip
    f.close()


def tcp_payload_len(ip):
    """Payload length from the IP header (right even when the capture was truncated)."""
    tcp = ip.data
    return max(0, ip.len - ip.hl * 4 - tcp.off * 4)


def wscale_of(tcp):
    for kind, data in dpkt.tcp.parse_opts(tcp.opts):
        if kind == dpkt.tcp.TCP_OPT_WSCALE and len(data) == 1:
            return min(data[0], 14)
    return None


def timestamps_of(tcp):
    """(TSval, TSecr) of the RFC 7323 timestamps option, or None."""
    for kind, data in dpkt.tcp.parse_opts(tcp.opts):
        if kind == dpkt.tcp.TCP_OPT_TIMESTAMP and len(data) == 8:
            return struct.unpack("!II", data)
    return None


def mss_of(tcp):
    for kind, data in dpkt.tcp.parse_opts(tcp.opts):
        if kind == dpkt.tcp.TCP_OPT_MSS and len(data) == 2:
            return struct.unpack("!H", data)[0]
    return None


# ---------------------------------------------------------------------------------------
# HTTP/1.1 message framing over one direction's byte stream


class Framer:
    """Splits one direction of a connection into HTTP messages.

    `feed(off, data, length, t, idx)` takes stream bytes in order (`data` may be shorter than
    `length` when the capture truncated the frame); it calls `on_start(off, t, idx, head)`
    when a message's first byte goes by and `on_end(end_off, t, idx)` after its last byte.
    `head` is the parsed head (a dict) or None when it could not be read.
    """

    def __init__(self, is_request, on_start, on_end, on_head, body_is_empty):
        self.is_request = is_request
        self.on_start = on_start
        self.on_end = on_end
        self.on_head = on_head
        self.body_is_empty = body_is_empty
        self.state = "idle"  # idle, head, body, chunk-size, chunk-data, chunk-crlf, trailer,
        #                      close, resync
        self.head = bytearray()
        self.left = 0
        self.line = bytearray()

    def resync(self):
        self.state = "resync"
        self.head = bytearray()

    def starts_message(self, data):
        if self.is_request:
            return data.startswith(METHODS)
        return data.startswith(b"HTTP/1.")

    def feed(self, off, data, length, t, idx):
        pos = 0
        while pos < length:
            st = self.state
            if st in ("idle", "resync"):
                rest = data[pos:]
                if st == "resync" and not (pos == 0 and self.starts_message(rest)):
                    return  # wait for a segment that begins with a message
                if st == "idle" and pos >= len(data):
                    self.resync()  # bytes not captured where a head should begin
                    return
                self.state = "head"
                self.head = bytearray()
                self.on_start(off + pos, t, idx)
                continue
            if st == "head":
                if pos >= len(data):
                    self.resync()
                    return
                take = data[pos:length]
                before = len(self.head)
                self.head += take
                end = self.head.find(b"\r\n\r\n", max(0, before - 3))
                if end < 0:
                    if len(self.head) > MAX_HEAD or len(data) < length:
                        self.resync()  # head cut off by the capture's snap length
                        return
                    return
                used = end + 4 - before
                pos += used
                head = parse_head(bytes(self.head[: end + 4]), self.is_request)
                self.on_head(head)
                if head is None:
                    self.resync()
                    return
                if self.body_is_empty(head):
                    self.left = 0
                    self.state = "body"
                elif head["chunked"]:
                    self.state = "chunk-size"
                    self.line = bytearray()
                elif head["length"] is not None:
                    self.left = head["length"]
                    self.state = "body"
                elif self.is_request:
                    self.left = 0
                    self.state = "body"
                else:
                    self.state = "close"
                if self.state == "body" and self.left == 0:
                    self.state = "idle"
                    self.on_end(off + pos, t, idx)
                continue
            if st == "body":
                n = min(self.left, length - pos)
                self.left -= n
                pos += n
                if self.left == 0:
                    self.state = "idle"
                    self.on_end(off + pos, t, idx)
                continue
            if st == "close":
                return  # runs to the FIN; ended by `close()`
            if st in ("chunk-size", "trailer"):
                if pos >= len(data):
                    self.resync()
                    return
                nl = data.find(b"\n", pos, length)
                if nl < 0:
                    self.line += data[pos:length]
                    return
                self.line += data[pos:nl]
                pos = nl + 1
                line = bytes(self.line).strip()
                self.line = bytearray()
                if st == "trailer":
                    if line == b"":
                        self.state = "idle"
                        self.on_end(off + pos, t, idx)
                    continue
                try:
                    size = int(line.split(b";")[0], 16)
                except ValueError:
                    self.resync()
                    return
                if size == 0:
                    self.state = "trailer"
                else:
                    self.left = size
                    self.state = "chunk-data"
                continue
            if st == "chunk-data":
                n = min(self.left, length - pos)
                self.left -= n
                pos += n
                if self.left == 0:
                    self.state = "chunk-crlf"
                    self.left = 2
                continue
            if st == "chunk-crlf":
                n = min(self.left, length - pos)
                self.left -= n
                pos += n
                if self.left == 0:
                    self.state = "chunk-size"
                continue

    def close(self, off, t, idx):
        if self.state == "close":
            self.state = "idle"
            self.on_end(off, t, idx)


def parse_head(raw, is_request):
    lines = raw.split(b"\r\n")
    first = lines[0].split(b" ", 2)
    if len(first) < 2:
        return None
    head = {"length": None, "chunked": False, "close": False, "bytes": len(raw)}
    if is_request:
        head["method"] = first[0].decode("latin-1")
        head["target"] = first[1].decode("latin-1")
    else:
        try:
            head["status"] = int(first[1])
        except ValueError:
            return None
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        value = value.strip().lower()
        if name == b"content-length":
            try:
                head["length"] = int(value)
            except ValueError:
                return None
        elif name == b"transfer-encoding":
            head["chunked"] = value.endswith(b"chunked")
        elif name == b"connection":
            head["close"] = b"close" in value
    return head


# ---------------------------------------------------------------------------------------
# Connections


class Request:
    __slots__ = (
        "conn", "index", "method", "target", "status", "req_bytes", "head_bytes",
        "body_bytes", "t_in", "i_in", "t_head", "i_head", "t_first", "i_first",
        "t_last", "i_last", "t_ack", "i_ack", "resp_start", "resp_end", "gaps",
    )

    def __init__(self, conn, index, t, idx):
        self.conn = conn
        self.index = index
        self.method = self.target = None
        self.status = None
        self.req_bytes = 0
        self.head_bytes = self.body_bytes = None
        self.t_in, self.i_in = t, idx
        self.t_head = self.i_head = None
        self.t_first = self.i_first = None
        self.t_last = self.i_last = None
        self.t_ack = self.i_ack = None
        self.resp_start = self.resp_end = None
        self.gaps = []


class Conn:
    """One TCP connection (one SYN; a reused port number starts a new one)."""

    def __init__(self, analyzer, client, server, number):
        self.an = analyzer
        self.client = client  # (IPv4 address bytes, port)
        self.server = server
        self.number = number
        self.t_syn = self.t_synack = self.t_est = None
        self.fins = []  # (time, "client" | "server")
        self.t_rst = None
        self.syns = 0  # client SYNs (more than one: retransmitted)
        self.t_bare_ack = None  # the server answered the SYN with a plain ACK (no SYN-ACK)
        # packets before the SYN-ACK: (t, from_server, flags, seq, ack, (TSval, TSecr) | None)
        self.hs_log = []
        self.rst_by = None
        self.fin_off = {}  # side -> stream offset of its FIN
        self.fin_acked = {}  # side -> time the peer acknowledged its FIN
        self.cbase = self.sbase = None  # ISN + 1 of each side
        self.cwscale = self.swscale = None
        self.mss = None
        self.events = []  # (t, from_server, off, length, flags, una, nxt, rwnd, retrans)
        self.ev_base = 0  # index of events[0]
        self.requests = []  # every request (kept for the report)
        self.open_reqs = []  # requests whose response is not yet acknowledged
        self.resp_queue = []  # requests waiting for their response to start
        self.snd_nxt = 0  # server: highest stream offset sent (end)
        self.snd_una = 0  # server: highest offset the client acknowledged
        self.rwnd = None  # client's last advertised window (bytes), None if unknown
        self.cnxt = 0  # client: highest stream offset sent
        self.c_in = self.s_in = 0  # next stream offset each framer expects
        self.c_ooo = {}
        self.s_ooo = {}
        self.s_fin_off = None
        self.req_framer = Framer(True, self._req_start, self._req_end, self._req_head,
                                 lambda h: False)
        self.resp_framer = Framer(False, self._resp_start, self._resp_end, self._resp_head,
                                  self._resp_body_empty)
        self.cur_req = None
        self.cur_resp = None

    # -- framing callbacks ----------------------------------------------------------
    def _req_start(self, off, t, idx):
        r = Request(self, len(self.requests), t, idx)
        self.requests.append(r)
        self.open_reqs.append(r)
        self.resp_queue.append(r)
        self.cur_req = r
        self.an.all_requests.append(r)

    def _req_head(self, head):
        r = self.cur_req
        if r is not None and head is not None:
            r.method, r.target = head["method"], head["target"]

    def _req_end(self, off, t, idx):
        r = self.cur_req
        if r is not None:
            r.t_head, r.i_head = t, idx
            self.cur_req = None

    def _resp_start(self, off, t, idx):
        # a response whose request head was not captured is not paired with anything
        r = self.resp_queue.pop(0) if self.resp_queue else None
        if r is not None:
            r.t_first, r.i_first = t, idx
            r.resp_start = off
        self.cur_resp = r

    def _resp_head(self, head):
        r = self.cur_resp
        if r is None or head is None:
            return
        r.status = head["status"]
        r.head_bytes = head["bytes"]
        r.body_bytes = head["length"]

    def _resp_body_empty(self, head):
        st = head["status"]
        r = self.cur_resp
        return (100 <= st < 200) or st in (204, 304) or (r is not None and r.method == "HEAD")

    def _resp_end(self, off, t, idx):
        r = self.cur_resp
        self.cur_resp = None
        if r is None:
            return
        r.t_last, r.i_last = t, idx
        r.resp_end = off
        if r.body_bytes is None and r.head_bytes is not None:
            r.body_bytes = off - r.resp_start - r.head_bytes
        if r.t_head is None:  # the request's end was never seen (truncated head)
            r.t_head, r.i_head = r.t_in, r.i_in

    # -- packets ----------------------------------------------------------------------
    def packet(self, t, from_server, tcp, plen, data):
        flags = tcp.flags
        seq, ack = tcp.seq, tcp.ack
        if self.t_synack is None and len(self.hs_log) < 12:
            self.hs_log.append((t, from_server, flags, seq, ack, timestamps_of(tcp)))
            if from_server and not flags & (SYN | RST) and self.t_syn is not None and \
                    self.t_bare_ack is None:
                self.t_bare_ack = t
        if flags & SYN and not from_server:
            self.syns += 1
        if flags & SYN:
            if from_server:
                if self.t_synack is None:
                    self.t_synack = t
                self.sbase = (seq + 1) % MOD32
                self.swscale = wscale_of(tcp)
            else:
                if self.t_syn is None:
                    self.t_syn = t
                self.cbase = (seq + 1) % MOD32
                self.cwscale = wscale_of(tcp)
                self.mss = mss_of(tcp)
            self._event(t, from_server, 0, 0, flags, False)
            return
        me, peer = ("server", "client") if from_server else ("client", "server")
        if from_server:
            if self.sbase is None:  # the handshake is not in the capture
                self.sbase = seq
                self.resp_framer.resync()
            off = (seq - self.sbase) % MOD32
            base_peer = self.cbase
        else:
            if self.cbase is None:
                self.cbase = seq
                self.req_framer.resync()
            off = (seq - self.cbase) % MOD32
            base_peer = self.sbase
        if flags & ACK and base_peer is not None:
            a = (ack - base_peer) % MOD32
            if a < MOD32 // 2:
                if not from_server:
                    if self.t_est is None and self.t_synack is not None:
                        self.t_est = t
                    self.snd_una = max(self.snd_una, a)
                fin_off = self.fin_off.get(peer)
                if fin_off is not None and a > fin_off and peer not in self.fin_acked:
                    self.fin_acked[peer] = t
        if not from_server:
            scale = self.cwscale if (self.cwscale is not None and self.swscale is not None) \
                else (0 if self.t_syn is not None else None)
            if scale is not None:
                self.rwnd = tcp.win << scale
        if from_server:
            retrans = plen > 0 and off < self.snd_nxt
            if plen:
                self.snd_nxt = max(self.snd_nxt, off + plen)
        else:
            retrans = plen > 0 and off < self.cnxt
            if plen:
                self.cnxt = max(self.cnxt, off + plen)
        idx = self._event(t, from_server, off, plen, flags, retrans)
        if plen:
            self._stream(from_server, off, data, plen, t, idx)
        if flags & FIN and me not in self.fin_off:
            self.fin_off[me] = off + plen
            self.fins.append((t, me))
            if from_server:
                self.resp_framer.close(off + plen, t, idx)
        if flags & RST and self.t_rst is None:
            self.t_rst = t
            self.rst_by = me
        if not from_server:
            self._acked(t, idx)

    def _event(self, t, from_server, off, plen, flags, retrans):
        self.events.append((t, from_server, off, plen, flags, self.snd_una, self.snd_nxt,
                            self.rwnd, retrans))
        return self.ev_base + len(self.events) - 1

    def _stream(self, from_server, off, data, plen, t, idx):
        """Feeds one direction's bytes to its framer in stream order."""
        framer = self.resp_framer if from_server else self.req_framer
        ooo = self.s_ooo if from_server else self.c_ooo
        nxt = self.s_in if from_server else self.c_in
        if off + plen <= nxt:
            return  # retransmission of bytes already framed
        if off > nxt:
            ooo[off] = (data, plen, t, idx)
            if len(ooo) <= 64:
                return  # a hole: wait for the missing bytes
            # the hole is not being filled: the capture missed those bytes; restart framing
            # at the next message head
            framer.resync()
            nxt = min(ooo)
        else:
            cut = nxt - off
            framer.feed(nxt, data[cut:], plen - cut, t, idx)
            nxt = off + plen
        while ooo:
            k = min(ooo)
            if k > nxt:
                break
            d, n, tt, ii = ooo.pop(k)
            if k + n <= nxt:
                continue
            cut = nxt - k
            framer.feed(nxt, d[cut:], n - cut, tt, ii)
            nxt = k + n
        if from_server:
            self.s_in = nxt
        else:
            self.c_in = nxt

    def _acked(self, t, idx):
        done = 0
        for r in self.open_reqs:
            if r.resp_end is not None and self.snd_una >= r.resp_end:
                r.t_ack, r.i_ack = t, idx
                self.an.analyze(r)
                done += 1
            else:
                break
        if done:
            del self.open_reqs[:done]
        self._trim()

    def _trim(self):
        keep = self.ev_base + len(self.events)
        for r in self.open_reqs:
            keep = min(keep, r.i_in)
        drop = keep - self.ev_base
        if drop > 4096:
            del self.events[:drop]
            self.ev_base = keep

    def finish(self):
        """End of the connection (or of the capture): analyze what is left."""
        for r in self.open_reqs:
            self.an.analyze(r)
        self.open_reqs = []
        self.events = []

    def ev(self, i):
        return self.events[i - self.ev_base]

    def label(self):
        return f"{ip_str(self.client[0])}:{self.client[1]}"


class Analyzer:
    def __init__(self, port, gap_s):
        self.port = port
        self.gap_s = gap_s
        self.conns = {}  # 4-tuple -> current Conn
        self.finished = []
        self.all_requests = []
        self.number = 0
        self.t0 = None
        self.t_prev = None  # the previous frame of this capture (any connection)
        # (start, end) of the silences longer than half the gap threshold between consecutive
        # frames of the capture (any connection)
        self.quiet = []

    def run(self, path):
        for t, ip in open_capture(path):
            tcp = ip.data
            if self.t0 is None or t < self.t0:
                self.t0 = t if self.t0 is None else min(self.t0, t)
            if self.t_prev is not None and t - self.t_prev > self.gap_s / 2:
                self.quiet.append((self.t_prev, t))
            self.t_prev = t
            src = (ip.src, tcp.sport)
            dst = (ip.dst, tcp.dport)
            if self.port is None:
                if tcp.flags & SYN and not tcp.flags & ACK:
                    self.port = tcp.dport
                else:
                    continue
            if tcp.dport == self.port:
                from_server, client, server = False, src, dst
            elif tcp.sport == self.port:
                from_server, client, server = True, dst, src
            else:
                continue
            key = (client, server)
            c = self.conns.get(key)
            if tcp.flags & SYN and not from_server and c is not None and \
                    c.cbase is not None and (tcp.seq + 1) % MOD32 != c.cbase:
                c.finish()
                self.finished.append(c)
                c = None
            if c is None:
                self.number += 1
                c = Conn(self, client, server, self.number)
                self.conns[key] = c
            plen = tcp_payload_len(ip)
            c.packet(t, from_server, tcp, plen, bytes(tcp.data[:plen]))

    def quiet_within(self, start, end):
        """Seconds of [start, end] with no frame of the capture on any connection."""
        i = bisect.bisect_right(self.quiet, (start, float("inf"))) - 1
        total = 0.0
        for a, b in self.quiet[max(i, 0):]:
            if a >= end:
                break
            total += max(0.0, min(b, end) - max(a, start))
        return total

    def close(self):
        self.t_prev = None
        for c in self.conns.values():
            c.finish()
            self.finished.append(c)
        self.conns = {}

    # -- gap analysis ---------------------------------------------------------------------
    def analyze(self, r):
        """Flags silences longer than the threshold between request in and last ACK (for a
        response not acknowledged in full: up to the connection's last packet so far)."""
        c = r.conn
        end = r.i_ack
        if end is None:
            end = c.ev_base + len(c.events) - 1
        mss = c.mss or 1460
        prev = c.ev(r.i_in)
        for i in range(r.i_in + 1, end + 1):
            e = c.ev(i)
            dt = e[0] - prev[0]
            if dt > self.gap_s:
                r.gaps.append(self.classify(r, prev, e, dt, mss))
            prev = e

    def classify(self, r, a, b, dt, mss):
        t_a = a[0]
        in_flight = a[6] - a[5]
        rwnd = a[7]
        dur = f"{ms(dt):.1f} ms"
        if r.t_head is not None and t_a < r.t_head:
            if b[1] and not b[3]:
                return ("client-send", t_a, dt,
                        f"request head incomplete; the server's ACK of the part came after "
                        f"{dur} (delayed ACK) and the client held the rest until then (Nagle)")
            return ("client-send", t_a, dt,
                    f"request head incomplete; waited {dur} for the client's next segment")
        if b[1] and b[8]:
            return ("retransmit", t_a, dt,
                    f"server waited {dur}, then retransmitted {b[3]} B "
                    f"(offset {b[2]}, {in_flight} B were in flight)")
        if r.t_last is not None and t_a >= r.t_last:
            how = " (it came with the client's next request)" if not b[1] and b[3] else ""
            return ("final-ack", t_a, dt,
                    f"response complete; waited {dur} for the client's ACK{how}")
        if r.t_first is None or t_a < r.t_first or b[1] or in_flight <= 0:
            quiet = self.quiet_within(t_a, b[0])
            if b[1] and quiet >= 0.5 * dt:
                return ("stall", t_a, dt,
                        f"no frame on any connection for {ms(quiet):.1f} of these {dur}; then "
                        f"the server sent again unprompted (its loop did not run, or it was "
                        f"computing)")
            what = "before the first response byte" if (r.t_first is None or t_a < r.t_first) \
                else f"with {max(in_flight, 0)} B in flight"
            return ("think", t_a, dt, f"server sent nothing for {dur} {what} "
                                      f"(no ACK or window was needed)")
        # the client's packet ended the silence and the server had bytes in flight
        sent = a[6] - (r.resp_start or 0)
        head_only = r.head_bytes is not None and in_flight == r.head_bytes and \
            sent == r.head_bytes
        if rwnd is not None and in_flight + min(mss, 536) > rwnd:
            return ("rwnd", t_a, dt,
                    f"server had {in_flight} B in flight, the client's window was {rwnd} B; "
                    f"waited {dur} for the client's ACK")
        if in_flight <= mss:
            what = f"{in_flight} B head" if head_only else f"{in_flight} B"
            then = "the body" if head_only else "more"
            return ("ack-wait", t_a, dt,
                    f"server sent {what}, then waited {dur} for the client's ACK "
                    f"before sending {then}")
        segs = -(-in_flight // mss)
        return ("cwnd", t_a, dt,
                f"server had {in_flight} B (~{segs} segments) in flight, window not full; "
                f"waited {dur} for the client's ACK")


def ip_str(b):
    return ".".join(str(x) for x in b)

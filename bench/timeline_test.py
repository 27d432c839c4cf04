#!/usr/bin/env python3
"""Tests of bench/timeline on small synthetic captures with known timestamps.

The captures are written here with `struct` alone (classic pcap, nanosecond timestamps,
Ethernet, like `boomerang serve --pcap`), so the test does not share code with the parser
it checks. Run: `python3 bench/timeline_test.py` (scripts/test does).
"""

import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TIMELINE = os.path.join(HERE, "timeline")
T0 = 1_700_000_000.0
CLIENT_IP = bytes([198, 18, 1, 1])
SERVER_IP = bytes([198, 18, 2, 2])
PORT = 8080
MSS = 1448
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Capture:
    """Frames of a made-up run, written as a nanosecond pcap."""

    def __init__(self):
        self.frames = []  # (time in µs from T0, sent by the server, bytes)

    def tcp(self, us, from_server, cport, seq, ack, flags, payload=b"", opts=b"", win=502,
            ts=None):
        if ts is not None:  # NOP NOP TS
            opts += b"\x01\x01" + struct.pack("!BBII", 8, 10, *ts)
        src, dst = (SERVER_IP, CLIENT_IP) if from_server else (CLIENT_IP, SERVER_IP)
        sport, dport = (PORT, cport) if from_server else (cport, PORT)
        off = (20 + len(opts)) // 4
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % (1 << 32), ack % (1 << 32),
                          off << 4, flags, win, 0, 0) + opts + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                         src, dst) + tcp
        eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
        self.frames.append((us, from_server, eth + ip))

    def write(self, path, shift_in=0, shift_out=0):
        """Writes the capture; `shift_in`/`shift_out` (µs) move the client's / the server's
        frames in time, as a capture point nearer the client would see them."""
        moved = [(us + (shift_out if srv else shift_in), frame)
                 for us, srv, frame in self.frames]
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
            for us, frame in sorted(moved, key=lambda x: x[0]):
                ns = int(round(us * 1000))
                sec, nsec = divmod(ns, 1_000_000_000)
                f.write(struct.pack("<IIII", int(T0) + sec, nsec, len(frame), len(frame)))
                f.write(frame)


class Conn:
    """One client connection; sequence numbers kept as stream offsets + ISN."""

    def __init__(self, cap, cport, ciss=1000, siss=5_000_000):
        self.cap, self.cport = cap, cport
        self.ciss, self.siss = ciss, siss
        self.cout = 0  # client bytes sent
        self.sout = 0  # server bytes sent
        self.cack = 0  # client bytes the server has acknowledged (server's ack field)

    def handshake(self, us):
        syn_opts = struct.pack("!BBH", 2, 4, MSS) + b"\x01" + struct.pack("!BBB", 3, 3, 7)
        self.cap.tcp(us, False, self.cport, self.ciss, 0, SYN, opts=syn_opts, win=64240)
        self.cap.tcp(us + 50, True, self.cport, self.siss, self.ciss + 1, SYN | ACK,
                     opts=syn_opts, win=65535)
        self.cap.tcp(us + 100, False, self.cport, self.ciss + 1, self.siss + 1, ACK)

    def client_send(self, us, data, flags=PSH | ACK):
        self.cap.tcp(us, False, self.cport, self.ciss + 1 + self.cout,
                     self.siss + 1 + self.sout, flags, data)
        self.cout += len(data)

    def client_ack(self, us, upto=None, flags=ACK):
        upto = self.sout if upto is None else upto
        self.cap.tcp(us, False, self.cport, self.ciss + 1 + self.cout, self.siss + 1 + upto,
                     flags)

    def server_send(self, us, data, flags=PSH | ACK):
        self.cap.tcp(us, True, self.cport, self.siss + 1 + self.sout,
                     self.ciss + 1 + self.cout, flags, data)
        self.sout += len(data)

    def server_resend(self, us, offset, data):
        self.cap.tcp(us, True, self.cport, self.siss + 1 + offset, self.ciss + 1 + self.cout,
                     PSH | ACK, data)


def request(path, close=False):
    extra = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: 198.18.2.2:8080\r\n{extra}\r\n".encode()


def response(body, extra=""):
    return (f"HTTP/1.1 200 OK\r\nServer: boomerang\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode(), body


def build(path, peer_path):
    cap = Capture()
    # conn A: a 64 KiB file whose head goes out alone and waits 42 ms for the delayed ACK,
    # then a keep-alive /plaintext request, then the client closes.
    a = Conn(cap, 40001)
    a.handshake(0)
    a.client_send(200, request("/64k.bin"))
    head, body = response(bytes(65536), "Content-Type: application/octet-stream\r\n")
    assert len(head) == 101, len(head)
    a.server_send(300, head)
    a.client_ack(42_300)  # the client's delayed ACK: 42.000 ms after the head
    t = 42_350
    segments = range(0, len(body), MSS)
    for n, i in enumerate(segments):
        a.server_send(t, body[i:i + MSS])
        if n % 2 == 1:
            a.client_ack(t + 30)  # an ACK every second segment
            last_ack = t + 30
        t += 10
    last_out = t - 10
    if len(segments) % 2 == 1:
        a.client_ack(last_out + 40)  # covers the last, odd segment
        last_ack = last_out + 40
    h2, b2 = response(b"Hello, World!", "Content-Type: text/plain\r\n")
    a.client_send(50_000, request("/plaintext"))
    a.server_send(50_020, h2 + b2)
    a.client_ack(50_060)
    a.client_send(60_000, b"", FIN | ACK)
    a.cout += 1
    a.server_send(60_010, b"", FIN | ACK)
    a.sout += 1
    a.client_ack(60_050)

    # conn B: two pipelined requests in one segment, the second answered 5 ms after the
    # first (server think-time), chunked; then a lost segment retransmitted after 200 ms.
    b = Conn(cap, 40002, ciss=77, siss=4_294_967_000)  # the server's sequence wraps
    b.handshake(1_000)
    b.client_send(1_200, request("/a") + request("/b"))
    ha, ba = response(b"first")
    b.server_send(1_300, ha + ba)
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
    b.server_send(6_300, chunked)  # 5 ms after the first response
    b.client_ack(6_340)
    b.client_send(7_000, request("/c"))
    hc, bc = response(bytes(2000))
    b.server_send(7_050, hc + bc[:MSS - len(hc)])
    first_len = MSS - len(hc)
    rest_at = b.sout
    b.server_send(7_060, bc[first_len:])
    b.client_ack(7_100, upto=rest_at)  # the first segment arrived, the second was lost
    b.server_resend(207_100, rest_at, bc[first_len:])
    b.client_ack(207_150)

    # conn C: keep-alive requests every 400 µs keep the server busy while /b waits (so that
    # wait is the server's think-time), then one request answered 3 ms late while nothing
    # else moves anywhere: a stall.
    c = Conn(cap, 40003, ciss=9, siss=99)
    c.handshake(800)
    hp, bp = response(b"Hello, World!")
    for k in range(18):
        t = 1_000 + 400 * k
        c.client_send(t, request("/plaintext"))
        c.server_send(t + 20, hp + bp)
        c.client_ack(t + 60)
    c.client_send(300_000, request("/plaintext"))
    c.server_send(303_000, hp + bp)
    c.client_ack(303_040)
    # conn D: a SYN on ports whose older connection the server still holds in TIME-WAIT and
    # refuses to reuse (TSval below the old TS.Recent): a plain ACK for the old connection,
    # the client's RST, the SYN again after 1 s, the same answer.
    for k in range(2):
        t = 400_000 + 1_000_000 * k
        cap.tcp(t, False, 40004, 123_456, 0, SYN, ts=(1000, 0))
        cap.tcp(t + 50, True, 40004, 777, 100, ACK, ts=(5555, 2000))
        cap.tcp(t + 100, False, 40004, 100, 0, RST)
    # conn E: a response cut short by the end of the capture (10,000 B declared, 2,000 sent),
    # its second piece sent 9.8 ms after the client's ACK while nothing else moved
    e = Conn(cap, 40005, ciss=5, siss=50)
    e.handshake(499_000)
    e.client_send(500_000, request("/cut"))
    he, be = response(bytes(10_000))
    e.server_send(500_100, he + be[:1000])
    e.client_ack(500_200)
    e.server_send(510_000, be[1000:2000])
    cap.write(path)
    # the client side sees its own frames 10 µs earlier and the server's 15 µs later (small
    # enough that every ACK still follows the data it acknowledges)
    cap.write(peer_path, shift_in=-10, shift_out=15)
    return {"a_last_out_us": last_out, "a_last_ack_us": last_ack}


def run(pcap, *args):
    out = subprocess.run([sys.executable, TIMELINE, "--pcap", pcap, *args],
                         capture_output=True, text=True, check=True)
    return out.stdout


def blocks(text):
    """{(client port, request number): [lines]} of the per-request detail."""
    res, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"conn \d+ [\d.]+:(\d+) request #(\d+): ", line)
        if m:
            cur = res.setdefault((int(m.group(1)), int(m.group(2))), [line])
        elif line.startswith("  ") and cur is not None and not line.startswith("  phase"):
            cur.append(line)
        else:
            cur = None
    return res


def at(block, name):
    """The absolute time (ms) printed on the line `name`."""
    for line in block:
        m = re.match(r"  (.+?)\s{2,}([\d.]+) ms", line)
        if m and m.group(1) == name:
            return float(m.group(2))
    raise AssertionError(f"no line {name!r} in {block}")


class TimelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="bmrtl-")
        cls.pcap = os.path.join(cls.dir.name, "run.pcap")
        cls.peer = os.path.join(cls.dir.name, "client.pcap")
        cls.facts = build(cls.pcap, cls.peer)
        cls.out = run(cls.pcap, "--all")
        cls.blocks = blocks(cls.out)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_requests_split_by_heads_and_framing(self):
        self.assertEqual(sorted(k for k in self.blocks if k[0] not in (40003, 40005)),
                         [(40001, 1), (40001, 2), (40002, 1), (40002, 2), (40002, 3)],
                         self.out)
        self.assertEqual(len([k for k in self.blocks if k[0] == 40003]), 19)
        self.assertIn((40005, 1), self.blocks)
        self.assertIn("GET /64k.bin -> 200, head 101 B + body 65536 B",
                      self.blocks[(40001, 1)][0])
        self.assertIn("GET /plaintext -> 200", self.blocks[(40001, 2)][0])
        self.assertIn("GET /b -> 200", self.blocks[(40002, 2)][0])

    def test_phases_of_the_stalled_file(self):
        b = self.blocks[(40001, 1)]
        self.assertAlmostEqual(at(b, "SYN"), 0.0, places=3)
        self.assertAlmostEqual(at(b, "SYN-ACK"), 0.05, places=3)
        self.assertAlmostEqual(at(b, "established"), 0.1, places=3)
        self.assertAlmostEqual(at(b, "request in"), 0.2, places=3)
        self.assertAlmostEqual(at(b, "first byte out"), 0.3, places=3)
        self.assertAlmostEqual(at(b, "last byte out"), self.facts["a_last_out_us"] / 1000,
                               places=3)
        self.assertAlmostEqual(at(b, "last ACK"), self.facts["a_last_ack_us"] / 1000, places=3)
        gaps = [line for line in b if "! gap" in line]
        self.assertEqual(len(gaps), 1, b)
        self.assertIn("gap 42.0 ms at 0.300 ms [ack-wait]: server sent 101 B head, then "
                      "waited 42.0 ms for the client's ACK before sending the body", gaps[0])

    def test_keep_alive_request_and_fin_exchange(self):
        b = self.blocks[(40001, 2)]
        self.assertAlmostEqual(at(b, "request in"), 50.0, places=3)
        self.assertAlmostEqual(at(b, "first byte out"), 50.02, places=3)
        self.assertAlmostEqual(at(b, "last byte out"), 50.02, places=3)
        self.assertAlmostEqual(at(b, "last ACK"), 50.06, places=3)
        self.assertAlmostEqual(at(b, "FIN (client)"), 60.0, places=3)
        self.assertAlmostEqual(at(b, "FIN (server)"), 60.01, places=3)
        self.assertAlmostEqual(at(b, "last ACK of FIN"), 60.05, places=3)
        self.assertFalse([line for line in b if "! gap" in line], b)

    def test_pipelined_pairing_and_think_time(self):
        first, second = self.blocks[(40002, 1)], self.blocks[(40002, 2)]
        self.assertIn("gap 5.0 ms at 1.300 ms [final-ack]", "".join(first))
        self.assertAlmostEqual(at(first, "request in"), 1.2, places=3)
        self.assertAlmostEqual(at(second, "request in"), 1.2, places=3)
        self.assertAlmostEqual(at(first, "first byte out"), 1.3, places=3)
        self.assertAlmostEqual(at(second, "first byte out"), 6.3, places=3)
        self.assertAlmostEqual(at(second, "last byte out"), 6.3, places=3)
        self.assertAlmostEqual(at(second, "last ACK"), 6.34, places=3)
        gaps = [line for line in second if "! gap" in line]
        self.assertEqual(len(gaps), 1, second)
        self.assertIn("gap 5.0 ms at 1.300 ms [think]", gaps[0])

    def test_retransmission(self):
        b = self.blocks[(40002, 3)]
        self.assertAlmostEqual(at(b, "last byte out"), 7.06, places=3)
        self.assertAlmostEqual(at(b, "last ACK"), 207.15, places=3)
        gaps = [line for line in b if "! gap" in line]
        self.assertEqual(len(gaps), 1, b)
        self.assertIn("gap 200.0 ms at 7.100 ms [retransmit]", gaps[0])

    def test_stall_when_nothing_moves(self):
        b = self.blocks[(40003, 19)]
        self.assertAlmostEqual(at(b, "first byte out"), 303.0, places=3)
        gaps = [line for line in b if "! gap" in line]
        self.assertEqual(len(gaps), 1, b)
        self.assertIn("gap 3.0 ms at 300.000 ms [stall]: no frame on any connection for 3.0 "
                      "of these 3.0 ms", gaps[0])
        for k in range(1, 19):
            self.assertFalse([x for x in self.blocks[(40003, k)] if "! gap" in x])

    def test_refused_syn(self):
        self.assertIn("handshakes: 5 SYNs, 4 answered by a SYN-ACK, 1 with the SYN "
                      "retransmitted, 1 answered by a plain ACK (an older connection on the "
                      "same ports still held them), 1 never established", self.out)
        self.assertIn("resets: 1 by the client", self.out)
        lines = run(self.pcap, "--stuck", "5").splitlines()
        at_ = lines.index("conn 4 198.18.1.1:40004: no SYN-ACK (2 SYNs)")
        self.assertEqual(lines[at_ + 1:at_ + 4], [
            "     400.000 ms  client SYN      seq 123456 ack 0 TSval 1000 TSecr 0",
            "     400.050 ms  server ACK      seq 777 ack 100 TSval 5555 TSecr 2000",
            "     400.100 ms  client RST      seq 100 ack 0",
        ])
        self.assertEqual(lines[at_ + 4], "    1400.000 ms  client SYN      seq 123456 ack 0 "
                                         "TSval 1000 TSecr 0")

    def test_unfinished_response_is_analysed_to_the_end(self):
        b = self.blocks[(40005, 1)]
        self.assertIn("GET /cut -> 200, head 61 B + body 10000 B", b[0])
        self.assertIn("  last byte out             -", b)
        gaps = [line for line in b if "! gap" in line]
        self.assertEqual(len(gaps), 1, b)
        self.assertIn("gap 9.8 ms at 500.200 ms [stall]", gaps[0])

    def test_summary_counts_causes(self):
        self.assertIn("summary: 5 connections, 25 requests (24 acknowledged in full)",
                      self.out)
        rows = {}
        for line in self.out.splitlines():
            m = re.match(r"  (\S+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", line)
            if m:
                rows[m.group(1)] = (int(m.group(2)), int(m.group(3)), float(m.group(4)))
        # /a's response went out at once, but the client acknowledged it only with /b's
        self.assertEqual(rows, {"think": (1, 1, 5.0), "ack-wait": (1, 1, 42.0),
                                "retransmit": (1, 1, 200.0), "final-ack": (1, 1, 5.0),
                                "stall": (2, 2, 12.8)},
                         self.out)
        self.assertIn("requests with gaps > 1 ms: 6 of 25", self.out)
        m = re.search(r"request in -> first byte out\s+(\d+)\s+([\d.]+)", self.out)
        self.assertEqual(m.group(1), "25")

    def test_peer_capture_gives_one_way_delays(self):
        out = run(self.pcap, "--peer-pcap", self.peer, "--client-port", "40001")
        got = blocks(out)
        self.assertIn("  path between the captures (ms, one way): SYN 0.010, SYN-ACK 0.015, "
                      "request in 0.010, first byte out 0.015, last byte out 0.015, "
                      "last ACK 0.010", got[(40001, 1)])
        self.assertIn("  path between the captures (ms, one way): request in 0.010, "
                      "first byte out 0.015, last byte out 0.015, last ACK 0.010",
                      got[(40001, 2)])
        m = re.search(r"\n    first byte out\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)",
                      out)
        self.assertEqual((m.group(1), m.group(2), m.group(3)), ("25", "0.015", "0.015"), out)

    def test_client_port_selects_one_connection(self):
        got = blocks(run(self.pcap, "--client-port", "40002"))
        self.assertEqual(sorted(got), [(40002, 1), (40002, 2), (40002, 3)])


if __name__ == "__main__":
    unittest.main()

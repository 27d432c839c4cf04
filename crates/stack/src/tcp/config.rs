//! TCP configuration: every limit and timer of a connection, as named, overridable defaults;
//! [`TcpConfig`] is also the `[tcp]` table of the configuration file.

use std::time::Duration;

use boomerang_settings::OutOfRange;

/// Default MSS we announce and assume for ourselves: Ethernet MTU 1500 − 20 (IPv4) − 20 (TCP).
pub const DEFAULT_MSS: u16 = 1460;
/// MSS assumed for a peer that sends no MSS option (RFC 9293 §3.7.1: 536 for IPv4).
pub const DEFAULT_PEER_MSS: u16 = 536;
/// Default maximum receive buffer per connection (bytes); storage grows on demand up to this.
pub const DEFAULT_RCV_BUF: usize = 256 * 1024;
/// Default initial receive buffer (advertised-window limit) of a connection; receive-window
/// auto-tuning grows it up to [`TcpConfig::rcv_buf`] (Linux starts near 64 KiB too).
pub const DEFAULT_RCV_BUF_INITIAL: usize = 64 * 1024;
/// Default maximum send buffer per connection (bytes): send-buffer auto-sizing grows a
/// connection's buffer up to this (Linux `tcp_wmem[2]` is 4 MiB too).
pub const DEFAULT_SND_BUF: usize = 4 * 1024 * 1024;
/// Default initial send buffer of a connection; grows with the congestion window (twice the
/// window, as Linux `tcp_sndbuf_expand`) up to [`TcpConfig::snd_buf`].
pub const DEFAULT_SND_BUF_INITIAL: usize = 256 * 1024;
/// Default bound on distinct out-of-order ranges held in the reassembly queue.
pub const DEFAULT_MAX_OOO_SEGMENTS: usize = 64;
/// Default bound on out-of-order bytes held beyond `RCV.NXT`.
pub const DEFAULT_MAX_OOO_BYTES: usize = 256 * 1024;
/// Default TIME-WAIT duration (2×MSL; Linux uses 60 s, RFC 9293 §3.4.2 suggests MSL = 2 min).
pub const DEFAULT_TIME_WAIT: Duration = Duration::from_secs(60);
/// Default delayed-ACK bound (RFC 9293 §3.8.6.3: MUST be under 0.5 s; Linux uses 40 ms).
pub const DEFAULT_DELAYED_ACK: Duration = Duration::from_millis(40);
/// Default lower bound of the retransmission timeout (Linux: 200 ms; RFC 6298 (2.4) says 1 s).
pub const DEFAULT_MIN_RTO: Duration = Duration::from_millis(200);
/// Default upper bound of the retransmission timeout (RFC 6298 (2.5): at least 60 s).
pub const DEFAULT_MAX_RTO: Duration = Duration::from_secs(60);
/// Default initial retransmission timeout (RFC 6298 (2.1)).
pub const DEFAULT_INITIAL_RTO: Duration = Duration::from_secs(1);
/// Default number of SYN / SYN-ACK retransmissions before giving up (Linux `tcp_syn_retries` = 6).
pub const DEFAULT_MAX_SYN_RETRIES: u32 = 6;
/// Default number of data retransmissions before the connection is aborted (RFC 9293 R2; Linux 15).
pub const DEFAULT_MAX_RETRIES: u32 = 15;
/// Default number of retransmissions for a connection the application has closed (Linux
/// `tcp_orphan_retries`, whose 0 means 8): a peer that vanished stops holding it sooner.
pub const DEFAULT_ORPHAN_RETRIES: u32 = 8;
/// Default FIN-WAIT-2 timeout for connections the user has closed (Linux `tcp_fin_timeout`).
pub const DEFAULT_FIN_WAIT_2_TIMEOUT: Duration = Duration::from_secs(60);
/// Default minimum interval between ACKs answering out-of-window or invalid segments
/// without data (RFC 5961 §7; Linux `tcp_invalid_ratelimit`), to break ACK loops.
pub const DEFAULT_INVALID_ACK_RATELIMIT: Duration = Duration::from_millis(500);
/// Default interval between keep-alive probes once the idle time has passed.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(75);
/// Default number of unanswered keep-alive probes before the connection is dropped.
pub const DEFAULT_KEEPALIVE_PROBES: u32 = 9;
/// Default initial congestion window in segments (RFC 6928).
pub const DEFAULT_INITIAL_CWND_SEGMENTS: u32 = 10;
/// Smallest persist (zero-window probe) interval.
pub const DEFAULT_MIN_PERSIST: Duration = Duration::from_millis(200);
/// Largest persist interval (RFC 9293 §3.8.6.1 exponential backoff, capped).
pub const DEFAULT_MAX_PERSIST: Duration = Duration::from_secs(60);
/// Sender silly-window-avoidance override timeout (RFC 9293 §3.8.6.2.1, 0.1–1 s).
pub const DEFAULT_SWS_OVERRIDE: Duration = Duration::from_millis(200);
/// Largest window-scale shift allowed (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;
/// Smallest `snd-buf` / `rcv-buf` (and their initial sizes) a configuration may set: below a
/// few segments a connection cannot keep anything in flight.
pub const MIN_BUF: usize = 4 * 1024;
/// Largest `snd-buf` / `rcv-buf`: the largest window TCP can advertise is 65535 << 14,
/// about 1 GiB (RFC 7323 §2.3).
pub const MAX_BUF: usize = 1024 * 1024 * 1024;
/// Largest `initial-cwnd` in segments (RFC 6928 recommends 10; more floods a path before
/// any feedback).
pub const MAX_INITIAL_CWND: u32 = 1000;

/// Which congestion controller a connection uses (RFC 5681 family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionAlgorithm {
    /// NewReno (RFC 5681 + RFC 6582).
    NewReno,
    /// CUBIC (RFC 9438) with NewReno-style fast recovery; the default, as in Linux.
    #[default]
    Cubic,
    /// BBR (model-based: bottleneck bandwidth and round-trip propagation time, with pacing;
    /// draft-cardwell-iccrg-bbr-congestion-control, version 1 as in Linux `tcp_bbr.c`).
    Bbr,
}

impl CongestionAlgorithm {
    /// The name used in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CongestionAlgorithm::NewReno => "newreno",
            CongestionAlgorithm::Cubic => "cubic",
            CongestionAlgorithm::Bbr => "bbr",
        }
    }
}

impl std::fmt::Display for CongestionAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for CongestionAlgorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for CongestionAlgorithm {
    /// Reads a name as [`std::str::FromStr`] does (`cubic`, `newreno`/`reno`, `bbr`, any case).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// An unknown congestion-control name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion control {0:?} (expected cubic, newreno/reno or bbr)")]
pub struct UnknownCongestion(pub String);

impl std::str::FromStr for CongestionAlgorithm {
    type Err = UnknownCongestion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cubic" => Ok(CongestionAlgorithm::Cubic),
            "newreno" | "reno" => Ok(CongestionAlgorithm::NewReno),
            "bbr" => Ok(CongestionAlgorithm::Bbr),
            _ => Err(UnknownCongestion(s.to_string())),
        }
    }
}

/// Per-connection TCP parameters. `Default` gives Linux-like values.
///
/// This is also the `[tcp]` table of `boomerang serve --config FILE`: the fields whose doc
/// names a key are read under it (kebab-case; the same with underscores works too; sizes
/// as an integer or a string such as `"4M"`, durations as a string such as `"200ms"`),
/// and [`TcpConfig::validate`] checks them against the range given there. The other fields
/// are set by the program only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpConfig {
    /// Largest MSS we announce (further bounded by the MTU the shard reports).
    #[serde(skip)]
    pub mss: u16,
    /// Maximum receive buffer (bytes): bounds the advertised window and auto-tuning. Key
    /// `rcv-buf`, default [`DEFAULT_RCV_BUF`], [`MIN_BUF`]..=[`MAX_BUF`].
    #[serde(alias = "rcv_buf", with = "boomerang_settings::bytes")]
    pub rcv_buf: usize,
    /// Initial receive buffer (bytes, capped at `rcv_buf`): the window a connection starts
    /// with; auto-tuning grows it when the application drains it fast (see `Tcb::recv`).
    /// Set it to `rcv_buf` to disable auto-tuning. Key `rcv-buf-initial`, default
    /// [`DEFAULT_RCV_BUF_INITIAL`], [`MIN_BUF`]..=[`MAX_BUF`].
    #[serde(alias = "rcv_buf_initial", with = "boomerang_settings::bytes")]
    pub rcv_buf_initial: usize,
    /// Maximum send buffer (bytes): `send` never accepts more than this unacknowledged +
    /// unsent; send-buffer auto-sizing grows a connection's buffer up to it. Key `snd-buf`,
    /// default [`DEFAULT_SND_BUF`], [`MIN_BUF`]..=[`MAX_BUF`].
    #[serde(alias = "snd_buf", with = "boomerang_settings::bytes")]
    pub snd_buf: usize,
    /// Initial send buffer (bytes, capped at `snd_buf`). Set it to `snd_buf` to disable
    /// auto-sizing. Key `snd-buf-initial`, default [`DEFAULT_SND_BUF_INITIAL`],
    /// [`MIN_BUF`]..=[`MAX_BUF`].
    #[serde(alias = "snd_buf_initial", with = "boomerang_settings::bytes")]
    pub snd_buf_initial: usize,
    /// Maximum number of disjoint out-of-order ranges kept for reassembly (a segment past
    /// them is dropped and sent again by the peer). Key `max-ooo-segments`, default
    /// [`DEFAULT_MAX_OOO_SEGMENTS`], 1..=4096.
    #[serde(alias = "max_ooo_segments")]
    pub max_ooo_segments: usize,
    /// Maximum out-of-order bytes kept beyond `RCV.NXT`. Not a key of its own: a
    /// configuration read from a file raises it to `rcv-buf` ([`TcpConfig::ooo_bytes_cover_rcv_buf`]).
    #[serde(skip)]
    pub max_ooo_bytes: usize,
    /// TIME-WAIT duration (2×MSL). Key `time-wait`, default [`DEFAULT_TIME_WAIT`],
    /// 1s..=600s.
    #[serde(alias = "time_wait", with = "boomerang_settings::duration")]
    pub time_wait: Duration,
    /// Delayed-ACK bound; `Duration::ZERO` acknowledges every segment immediately. Key
    /// `delayed-ack`, default [`DEFAULT_DELAYED_ACK`], 0s..=499ms (RFC 9293 §3.8.6.3: under
    /// 0.5 s).
    #[serde(alias = "delayed_ack", with = "boomerang_settings::duration")]
    pub delayed_ack: Duration,
    /// Lower bound of the RTO.
    #[serde(skip)]
    pub min_rto: Duration,
    /// Upper bound of the RTO.
    #[serde(skip)]
    pub max_rto: Duration,
    /// RTO before any RTT sample.
    #[serde(skip)]
    pub initial_rto: Duration,
    /// How long a closed (orphaned) connection may wait in FIN-WAIT-2 for the peer's FIN.
    #[serde(skip)]
    pub fin_wait_2_timeout: Duration,
    /// Minimum interval between ACKs answering invalid segments without data (challenge ACKs).
    #[serde(skip)]
    pub invalid_ack_ratelimit: Duration,
    /// Idle time before keep-alive probes start; `None` disables keep-alive (the default).
    #[serde(skip)]
    pub keepalive: Option<Duration>,
    /// Interval between keep-alive probes.
    #[serde(skip)]
    pub keepalive_interval: Duration,
    /// Unanswered keep-alive probes before the connection is dropped.
    #[serde(skip)]
    pub keepalive_probes: u32,
    /// SYN / SYN-ACK retransmissions before giving up. Key `max-syn-retries`, default
    /// [`DEFAULT_MAX_SYN_RETRIES`], 1..=20.
    #[serde(alias = "max_syn_retries")]
    pub max_syn_retries: u32,
    /// Data retransmissions (consecutive RTOs) before giving up. Key `max-retries`,
    /// default [`DEFAULT_MAX_RETRIES`], 1..=30.
    #[serde(alias = "max_retries")]
    pub max_retries: u32,
    /// Retransmissions (consecutive RTOs, or unanswered window probes) before a connection
    /// the application has already closed is aborted; the lower of this and `max-retries`
    /// applies. Key `orphan-retries`, default [`DEFAULT_ORPHAN_RETRIES`], 1..=30.
    #[serde(alias = "orphan_retries")]
    pub orphan_retries: u32,
    /// Initial congestion window in segments (RFC 6928). Key `initial-cwnd`, default
    /// [`DEFAULT_INITIAL_CWND_SEGMENTS`], 1..=[`MAX_INITIAL_CWND`].
    #[serde(rename = "initial-cwnd", alias = "initial_cwnd")]
    pub initial_cwnd_segments: u32,
    /// Smallest persist-timer interval.
    #[serde(skip)]
    pub min_persist: Duration,
    /// Largest persist-timer interval.
    #[serde(skip)]
    pub max_persist: Duration,
    /// Sender-side SWS avoidance override timeout.
    #[serde(skip)]
    pub sws_override: Duration,
    /// Nagle's algorithm (RFC 9293 §3.7.4); off by default (server responses are written whole).
    #[serde(skip)]
    pub nagle: bool,
    /// Offer/accept window scaling (RFC 7323 §2).
    #[serde(skip)]
    pub window_scaling: bool,
    /// Offer/accept timestamps (RFC 7323 §3).
    #[serde(skip)]
    pub timestamps: bool,
    /// Offer/accept SACK (RFC 2018); we then generate SACK blocks as a receiver.
    #[serde(skip)]
    pub sack: bool,
    /// Congestion controller. Key `congestion`: `cubic` (default), `newreno` (`reno`) or
    /// `bbr`.
    pub congestion: CongestionAlgorithm,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: DEFAULT_MSS,
            rcv_buf: DEFAULT_RCV_BUF,
            rcv_buf_initial: DEFAULT_RCV_BUF_INITIAL,
            snd_buf: DEFAULT_SND_BUF,
            snd_buf_initial: DEFAULT_SND_BUF_INITIAL,
            max_ooo_segments: DEFAULT_MAX_OOO_SEGMENTS,
            max_ooo_bytes: DEFAULT_MAX_OOO_BYTES,
            time_wait: DEFAULT_TIME_WAIT,
            delayed_ack: DEFAULT_DELAYED_ACK,
            min_rto: DEFAULT_MIN_RTO,
            max_rto: DEFAULT_MAX_RTO,
            initial_rto: DEFAULT_INITIAL_RTO,
            fin_wait_2_timeout: DEFAULT_FIN_WAIT_2_TIMEOUT,
            invalid_ack_ratelimit: DEFAULT_INVALID_ACK_RATELIMIT,
            keepalive: None,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_probes: DEFAULT_KEEPALIVE_PROBES,
            max_syn_retries: DEFAULT_MAX_SYN_RETRIES,
            max_retries: DEFAULT_MAX_RETRIES,
            orphan_retries: DEFAULT_ORPHAN_RETRIES,
            initial_cwnd_segments: DEFAULT_INITIAL_CWND_SEGMENTS,
            min_persist: DEFAULT_MIN_PERSIST,
            max_persist: DEFAULT_MAX_PERSIST,
            sws_override: DEFAULT_SWS_OVERRIDE,
            nagle: false,
            window_scaling: true,
            timestamps: true,
            sack: true,
            congestion: CongestionAlgorithm::Cubic,
        }
    }
}

impl TcpConfig {
    /// The receive buffer a connection starts with: `rcv_buf_initial`, at most `rcv_buf`.
    pub fn rcv_buf_start(&self) -> usize {
        self.rcv_buf_initial.min(self.rcv_buf)
    }

    /// The send buffer a connection starts with: `snd_buf_initial`, at most `snd_buf`.
    pub fn snd_buf_start(&self) -> usize {
        self.snd_buf_initial.min(self.snd_buf)
    }

    /// Checks the settings a configuration file may set against the ranges their docs give.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        use boomerang_settings::{check_bytes, check_count, check_duration};
        check_bytes(
            "snd-buf",
            self.snd_buf,
            MIN_BUF,
            MAX_BUF,
            "; for full speed give at least 2 × bandwidth × RTT",
        )?;
        check_bytes(
            "rcv-buf",
            self.rcv_buf,
            MIN_BUF,
            MAX_BUF,
            "; TCP cannot advertise a window above 1 GiB (RFC 7323 §2.3)",
        )?;
        check_count(
            "initial-cwnd",
            self.initial_cwnd_segments,
            1,
            MAX_INITIAL_CWND,
            "segments",
            &format!(" (RFC 6928 recommends {DEFAULT_INITIAL_CWND_SEGMENTS})"),
        )?;
        check_bytes(
            "snd-buf-initial",
            self.snd_buf_initial,
            MIN_BUF,
            MAX_BUF,
            "",
        )?;
        check_bytes(
            "rcv-buf-initial",
            self.rcv_buf_initial,
            MIN_BUF,
            MAX_BUF,
            "",
        )?;
        check_count("max-ooo-segments", self.max_ooo_segments, 1, 4096, "", "")?;
        check_count("max-syn-retries", self.max_syn_retries, 1, 20, "", "")?;
        check_count("max-retries", self.max_retries, 1, 30, "", "")?;
        check_count("orphan-retries", self.orphan_retries, 1, 30, "", "")?;
        check_duration(
            "time-wait",
            self.time_wait,
            Duration::from_secs(1),
            Duration::from_secs(600),
            "",
        )?;
        check_duration(
            "delayed-ack",
            self.delayed_ack,
            Duration::ZERO,
            Duration::from_millis(499),
            " (RFC 9293 §3.8.6.3: under 0.5 s)",
        )
    }

    /// Raises `max_ooo_bytes` to `rcv_buf` when that is larger. Out-of-order data lies
    /// inside the window we advertise, so it is already bounded by the receive buffer: a
    /// larger buffer may hold as much out of order (a peer filling a long lossy path must
    /// not see its segments past a hole dropped). A configuration read from a file gets
    /// this after its `rcv-buf` is set.
    pub fn ooo_bytes_cover_rcv_buf(&mut self) {
        self.max_ooo_bytes = self.max_ooo_bytes.max(self.rcv_buf);
    }

    /// The window-scale shift we announce: the smallest shift that lets `rcv_buf` be advertised.
    pub fn rcv_wscale(&self) -> u8 {
        let mut shift = 0u8;
        while shift < MAX_WINDOW_SCALE && (self.rcv_buf >> shift) > 0xffff {
            shift += 1;
        }
        shift
    }
}

/// The part of [`TcpConfig`] a connection keeps, compact (durations in milliseconds), so an
/// idle connection stays small. Built once per connection from the shard's `TcpConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnConfig {
    time_wait_ms: u32,
    fin_wait_2_ms: u32,
    delayed_ack_ms: u32,
    invalid_ack_ms: u32,
    /// 0 = keep-alive off.
    keepalive_ms: u32,
    keepalive_interval_ms: u32,
    min_persist_ms: u32,
    max_persist_ms: u32,
    sws_override_ms: u32,
    rcv_buf_max: u32,
    snd_buf_max: u32,
    /// See [`TcpConfig::keepalive_probes`].
    pub keepalive_probes: u32,
    /// See [`TcpConfig::max_syn_retries`].
    pub max_syn_retries: u32,
    /// See [`TcpConfig::max_retries`].
    pub max_retries: u32,
    /// See [`TcpConfig::orphan_retries`].
    pub orphan_retries: u32,
    /// See [`TcpConfig::initial_cwnd_segments`].
    pub initial_cwnd_segments: u32,
    /// See [`TcpConfig::nagle`].
    pub nagle: bool,
    /// See [`TcpConfig::window_scaling`].
    pub window_scaling: bool,
    /// See [`TcpConfig::timestamps`].
    pub timestamps: bool,
    /// See [`TcpConfig::sack`].
    pub sack: bool,
    /// See [`TcpConfig::congestion`].
    pub congestion: CongestionAlgorithm,
    /// Our window-scale shift ([`TcpConfig::rcv_wscale`]).
    pub rcv_wscale: u8,
}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

fn dur(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

impl From<&TcpConfig> for ConnConfig {
    fn from(c: &TcpConfig) -> ConnConfig {
        ConnConfig {
            time_wait_ms: ms(c.time_wait),
            fin_wait_2_ms: ms(c.fin_wait_2_timeout),
            delayed_ack_ms: ms(c.delayed_ack),
            invalid_ack_ms: ms(c.invalid_ack_ratelimit),
            keepalive_ms: c.keepalive.map_or(0, |d| ms(d).max(1)),
            keepalive_interval_ms: ms(c.keepalive_interval),
            min_persist_ms: ms(c.min_persist),
            max_persist_ms: ms(c.max_persist),
            sws_override_ms: ms(c.sws_override),
            rcv_buf_max: c.rcv_buf.min(u32::MAX as usize) as u32,
            snd_buf_max: c.snd_buf.min(u32::MAX as usize) as u32,
            keepalive_probes: c.keepalive_probes,
            max_syn_retries: c.max_syn_retries,
            max_retries: c.max_retries,
            orphan_retries: c.orphan_retries,
            initial_cwnd_segments: c.initial_cwnd_segments,
            nagle: c.nagle,
            window_scaling: c.window_scaling,
            timestamps: c.timestamps,
            sack: c.sack,
            congestion: c.congestion,
            rcv_wscale: c.rcv_wscale(),
        }
    }
}

impl ConnConfig {
    /// See [`TcpConfig::time_wait`].
    pub fn time_wait(&self) -> Duration {
        dur(self.time_wait_ms)
    }
    /// See [`TcpConfig::fin_wait_2_timeout`].
    pub fn fin_wait_2_timeout(&self) -> Duration {
        dur(self.fin_wait_2_ms)
    }
    /// See [`TcpConfig::delayed_ack`].
    pub fn delayed_ack(&self) -> Duration {
        dur(self.delayed_ack_ms)
    }
    /// See [`TcpConfig::invalid_ack_ratelimit`].
    pub fn invalid_ack_ratelimit(&self) -> Duration {
        dur(self.invalid_ack_ms)
    }
    /// See [`TcpConfig::keepalive`].
    pub fn keepalive(&self) -> Option<Duration> {
        (self.keepalive_ms > 0).then(|| dur(self.keepalive_ms))
    }
    /// See [`TcpConfig::keepalive_interval`].
    pub fn keepalive_interval(&self) -> Duration {
        dur(self.keepalive_interval_ms)
    }
    /// See [`TcpConfig::min_persist`].
    pub fn min_persist(&self) -> Duration {
        dur(self.min_persist_ms)
    }
    /// See [`TcpConfig::max_persist`].
    pub fn max_persist(&self) -> Duration {
        dur(self.max_persist_ms)
    }
    /// See [`TcpConfig::sws_override`].
    pub fn sws_override(&self) -> Duration {
        dur(self.sws_override_ms)
    }
    /// See [`TcpConfig::rcv_buf`]: the receive buffer auto-tuning may grow to.
    pub fn rcv_buf_max(&self) -> usize {
        self.rcv_buf_max as usize
    }
    /// See [`TcpConfig::snd_buf`]: the send buffer auto-sizing may grow to.
    pub fn snd_buf_max(&self) -> usize {
        self.snd_buf_max as usize
    }
}

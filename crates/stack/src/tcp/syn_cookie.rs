//! SYN cookies (RFC 4987 §3.6, Linux style): when the SYN backlog is full, answer a SYN with
//! a SYN-ACK whose ISS encodes the connection and keep no state; a valid ACK later rebuilds the
//! connection with [`super::Tcb::from_syn_cookie`].
//!
//! ISS = `count << 24 | (F(tuple, client ISN, count) + mss_index) mod 2^24` where `count` is a
//! 64-second clock and `F` SipHash-2-4 keyed by a secret; a cookie is valid for two counts.
//! When the SYN carried timestamps, window scale and SACK-permitted ride in the low bits of our
//! TSval (the peer echoes it in TSecr), as Linux does; otherwise only the MSS survives.

use super::config::TcpConfig;
use crate::FourTuple;
use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};
use core::hash::Hasher;
use siphasher::sip::SipHasher24;
use std::time::{Duration, Instant};

/// MSS values a cookie can carry (index in 2 bits); the largest not above the peer's is used.
pub const COOKIE_MSS_TABLE: [u16; 4] = [536, 1220, 1440, 1460];
/// Period of the cookie clock.
pub const COOKIE_PERIOD: Duration = Duration::from_secs(64);
/// Cookie clock periods a cookie stays valid.
pub const COOKIE_MAX_AGE: u32 = 2;
/// TSval bits carrying options: 4 bits window scale (15 = none), 1 bit SACK-permitted.
const TS_OPTION_BITS: u32 = 5;
const WS_NONE: u32 = 0xf;

/// Options recovered from a valid cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOptions {
    /// The peer's MSS (rounded down to [`COOKIE_MSS_TABLE`]).
    pub mss: u16,
    /// The peer's window-scale shift, if it offered one and timestamps carried it.
    pub window_scale: Option<u8>,
    /// The peer offered SACK (known only with timestamps).
    pub sack_permitted: bool,
    /// Timestamps were negotiated: (peer's TSval, our TSval it echoed).
    pub timestamp: Option<(u32, u32)>,
}

/// Makes and checks SYN cookies for one shard (stateless apart from the key).
#[derive(Debug, Clone)]
pub struct SynCookies {
    k0: u64,
    k1: u64,
    epoch: Instant,
}

impl SynCookies {
    /// Keyed by `secret` (draw it from a CSPRNG at start); `epoch` anchors the cookie clock.
    pub fn new(secret: [u8; 16], epoch: Instant) -> SynCookies {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&secret[..8]);
        b.copy_from_slice(&secret[8..]);
        SynCookies {
            k0: u64::from_le_bytes(a),
            k1: u64::from_le_bytes(b),
            epoch,
        }
    }

    fn count(&self, now: Instant) -> u32 {
        (now.saturating_duration_since(self.epoch).as_secs() / COOKIE_PERIOD.as_secs()) as u32
    }

    fn hash(&self, tuple: &FourTuple, client_isn: SeqNumber, count: u32) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(&tuple.local.ip().octets());
        h.write(&tuple.local.port().to_be_bytes());
        h.write(&tuple.remote.ip().octets());
        h.write(&tuple.remote.port().to_be_bytes());
        h.write(&client_isn.0.to_be_bytes());
        h.write(&count.to_be_bytes());
        h.finish() as u32
    }

    /// The stateless SYN-ACK answering `syn` on `tuple` (RFC 9293 §3.10.7.2 with the ISS a
    /// cookie): MSS, and the window scale / SACK-permitted / timestamps the SYN offered.
    pub fn syn_ack(
        &self,
        cfg: &TcpConfig,
        tuple: &FourTuple,
        syn: &TcpRepr,
        now: Instant,
    ) -> TcpRepr<'static> {
        let peer_mss = syn.max_seg_size.unwrap_or(super::config::DEFAULT_PEER_MSS);
        let index = COOKIE_MSS_TABLE
            .iter()
            .rposition(|&m| m <= peer_mss)
            .unwrap_or(0) as u32;
        let count = self.count(now);
        let iss = (count << 24)
            | (self.hash(tuple, syn.seq_number, count).wrapping_add(index) & 0x00ff_ffff);
        // Window scale and SACK-permitted can be remembered only inside the timestamp: without
        // timestamps neither is offered (a scale we forget would corrupt every window).
        let with_ts = syn.timestamp.is_some() && cfg.timestamps;
        let ws = syn.window_scale.filter(|_| cfg.window_scaling && with_ts);
        let sack = syn.sack_permitted && cfg.sack && with_ts;
        let timestamp = syn.timestamp.filter(|_| with_ts).map(|(tsval, _)| {
            let clock = now.saturating_duration_since(self.epoch).as_millis() as u32;
            let bits = ws.map_or(WS_NONE, u32::from) << 1 | u32::from(sack);
            ((clock & !((1 << TS_OPTION_BITS) - 1)) | bits, tsval)
        });
        TcpRepr {
            src_port: tuple.local.port(),
            dst_port: tuple.remote.port(),
            control: TcpControl::Syn,
            seq_number: SeqNumber(iss),
            ack_number: Some(syn.seq_number + 1),
            window_len: cfg.rcv_buf_start().min(0xffff) as u16,
            window_scale: ws.map(|_| cfg.rcv_wscale()),
            max_seg_size: Some(cfg.mss),
            sack_permitted: sack,
            timestamp,
            ..TcpRepr::default()
        }
    }

    /// Checks the ACK completing a cookie handshake (no SYN, RST or FIN-only state needed):
    /// `Some` with the options to rebuild the connection, `None` for a forged or stale cookie.
    pub fn validate(
        &self,
        tuple: &FourTuple,
        ack: &TcpRepr,
        now: Instant,
    ) -> Option<CookieOptions> {
        if ack.control == TcpControl::Syn || ack.control == TcpControl::Rst {
            return None;
        }
        let cookie = ack.ack_number?.0.wrapping_sub(1);
        let client_isn = ack.seq_number - 1;
        let now_count = self.count(now);
        let count_bits = cookie >> 24;
        let age = now_count.wrapping_sub(count_bits) & 0xff;
        if age >= COOKIE_MAX_AGE {
            return None;
        }
        let count = now_count.wrapping_sub(age);
        let index = (cookie.wrapping_sub(self.hash(tuple, client_isn, count))) & 0x00ff_ffff;
        let mss = *COOKIE_MSS_TABLE.get(index as usize)?;
        let (window_scale, sack_permitted, timestamp) = match ack.timestamp {
            Some((tsval, tsecr)) => {
                let ws = (tsecr >> 1) & 0xf;
                let ws = (ws != WS_NONE)
                    .then(|| ws.min(u32::from(super::config::MAX_WINDOW_SCALE)) as u8);
                (ws, tsecr & 1 == 1, Some((tsval, tsecr)))
            }
            None => (None, false, None),
        };
        Some(CookieOptions {
            mss,
            window_scale,
            sack_permitted,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::tests::{tuple, LOCAL_PORT, REMOTE_PORT, SEND_TEMPL};
    use crate::tcp::{Tcb, TcpState};

    fn linux_syn() -> TcpRepr<'static> {
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: SeqNumber(7_000),
            window_len: 64_240,
            max_seg_size: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((555, 0)),
            ..SEND_TEMPL
        }
    }

    fn ack_for(syn_ack: &TcpRepr, tsval: u32) -> TcpRepr<'static> {
        TcpRepr {
            seq_number: SeqNumber(7_001),
            ack_number: Some(syn_ack.seq_number + 1),
            window_len: 502,
            timestamp: syn_ack.timestamp.map(|(ours, _)| (tsval, ours)),
            ..SEND_TEMPL
        }
    }

    #[test]
    fn cookie_round_trip_keeps_options_and_establishes() {
        let t0 = Instant::now();
        let cfg = TcpConfig::default();
        let cookies = SynCookies::new([9; 16], t0);
        let now = t0 + Duration::from_secs(100);
        let syn_ack = cookies.syn_ack(&cfg, &tuple(), &linux_syn(), now);
        assert_eq!(syn_ack.src_port, LOCAL_PORT);
        assert_eq!(syn_ack.dst_port, REMOTE_PORT);
        assert_eq!(syn_ack.ack_number, Some(SeqNumber(7_001)));
        assert!(syn_ack.sack_permitted && syn_ack.window_scale.is_some());
        let ack = TcpRepr {
            payload: b"GET / HTTP/1.1\r\n\r\n",
            ..ack_for(&syn_ack, 600)
        };
        let later = now + Duration::from_secs(30);
        let opts = cookies
            .validate(&tuple(), &ack, later)
            .expect("valid cookie");
        assert_eq!(
            (opts.mss, opts.window_scale, opts.sack_permitted),
            (1460, Some(7), true)
        );
        let (mut tcb, out) = Tcb::from_syn_cookie(&cfg, tuple(), &ack, opts, later);
        assert!(out.established && out.readable);
        assert_eq!(tcb.state(), TcpState::Established);
        let mut buf = [0u8; 64];
        assert_eq!(tcb.recv(&mut buf), Ok(18));
        tcb.send(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        let seg = tcb.poll_segment(later, 1460).expect("response");
        assert_eq!(seg.repr().seq_number, syn_ack.seq_number + 1);
        assert_eq!(seg.repr().ack_number, Some(SeqNumber(7_001 + 18)));
        let (tsval, tsecr) = seg.repr().timestamp.expect("timestamps negotiated");
        assert_eq!(tsecr, 600);
        assert!(
            tsval >= syn_ack.timestamp.unwrap().0,
            "our clock does not go back"
        );
        tcb.check_invariants();
    }

    #[test]
    fn forged_and_stale_cookies_are_rejected() {
        let t0 = Instant::now();
        let cfg = TcpConfig::default();
        let cookies = SynCookies::new([9; 16], t0);
        let syn_ack = cookies.syn_ack(&cfg, &tuple(), &linux_syn(), t0);
        let ack = ack_for(&syn_ack, 600);
        assert!(cookies.validate(&tuple(), &ack, t0).is_some());
        let forged = TcpRepr {
            ack_number: Some(syn_ack.seq_number + 2),
            ..ack
        };
        assert!(cookies.validate(&tuple(), &forged, t0).is_none());
        let other_isn = TcpRepr {
            seq_number: SeqNumber(9_999),
            ..ack
        };
        assert!(cookies.validate(&tuple(), &other_isn, t0).is_none());
        assert!(cookies
            .validate(&tuple(), &ack, t0 + COOKIE_PERIOD * COOKIE_MAX_AGE)
            .is_none());
        let other_key = SynCookies::new([1; 16], t0);
        assert!(other_key.validate(&tuple(), &ack, t0).is_none());
    }

    #[test]
    fn without_timestamps_only_mss_survives() {
        let t0 = Instant::now();
        let cfg = TcpConfig::default();
        let cookies = SynCookies::new([3; 16], t0);
        let syn = TcpRepr {
            timestamp: None,
            max_seg_size: Some(1300),
            ..linux_syn()
        };
        let syn_ack = cookies.syn_ack(&cfg, &tuple(), &syn, t0);
        assert!(
            !syn_ack.sack_permitted,
            "SACK cannot be remembered without timestamps"
        );
        assert_eq!(syn_ack.window_scale, None, "nor the window scale");
        let opts = cookies
            .validate(&tuple(), &ack_for(&syn_ack, 0), t0)
            .expect("valid");
        assert_eq!(opts.mss, 1220);
        assert_eq!(opts.window_scale, None);
        assert!(!opts.sack_permitted);
    }
}

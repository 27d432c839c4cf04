//! A capturing [`Device`] wrapper: every frame received and transmitted is also written to a
//! pcap file (LINKTYPE_ETHERNET), readable by tcpdump, tshark and Wireshark.
//!
//! Timestamps are a wall-clock origin plus the offset of the caller's `now` from an
//! `Instant` origin taken at the same moment, so captures of simulated runs are reproducible
//! and captures of real runs show real dates. A write error does not disturb the traffic:
//! it is logged once, counted, and capture stops.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter as FileWriter};
use pcap_file::{DataLink, TsResolution};

use crate::device::Device;

/// Snapshot length written in the file header: frames up to this size are stored whole.
pub const PCAP_SNAPLEN: u32 = 65_535;

/// Which directions a [`PcapWriter`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcapMode {
    /// Received and transmitted frames.
    Both,
    /// Received frames only.
    RxOnly,
    /// Transmitted frames only.
    TxOnly,
}

/// Errors opening a capture.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be created.
    #[error("cannot create capture file: {0}")]
    Io(#[from] io::Error),
    /// The pcap header could not be written.
    #[error("cannot write pcap header: {0}")]
    Pcap(#[from] pcap_file::PcapError),
}

/// Wraps a device and records its frames to a pcap stream.
#[derive(Debug)]
pub struct PcapWriter<D: Device, W: Write = BufWriter<File>> {
    inner: D,
    sink: Option<FileWriter<W>>,
    mode: PcapMode,
    wall_origin: SystemTime,
    origin: Instant,
    written: u64,
    errors: u64,
}

impl<D: Device> PcapWriter<D> {
    /// Creates (truncates) `path` and records both directions, timestamps from the real clock.
    pub fn create(inner: D, path: impl AsRef<Path>) -> Result<Self, PcapError> {
        let file = BufWriter::new(File::create(path)?);
        Self::new(
            inner,
            file,
            PcapMode::Both,
            SystemTime::now(),
            Instant::now(),
        )
    }
}

impl<D: Device, W: Write> PcapWriter<D, W> {
    /// Records into `sink`; a frame seen at `now` gets timestamp
    /// `wall_origin + (now - origin)` (times before `origin` count as `origin`).
    pub fn new(
        inner: D,
        sink: W,
        mode: PcapMode,
        wall_origin: SystemTime,
        origin: Instant,
    ) -> Result<Self, PcapError> {
        let header = PcapHeader {
            snaplen: PCAP_SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            ..PcapHeader::default()
        };
        let sink = FileWriter::with_header(sink, header)?;
        Ok(PcapWriter {
            inner,
            sink: Some(sink),
            mode,
            wall_origin,
            origin,
            written: 0,
            errors: 0,
        })
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutably.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Frames written to the capture so far.
    pub fn frames_written(&self) -> u64 {
        self.written
    }

    /// Write errors (after the first one, capture stops).
    pub fn write_errors(&self) -> u64 {
        self.errors
    }

    /// Returns the device and the sink (`None` if capture stopped on an error).
    ///
    /// Dropping the wrapper instead also works: a `BufWriter` sink flushes itself on drop.
    pub fn into_parts(self) -> (D, Option<W>) {
        (self.inner, self.sink.map(FileWriter::into_writer))
    }

    fn timestamp(&self, now: Instant) -> Duration {
        let wall = self.wall_origin + now.saturating_duration_since(self.origin);
        wall.duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    fn record(
        sink: &mut Option<FileWriter<W>>,
        written: &mut u64,
        errors: &mut u64,
        ts: Duration,
        frame: &[u8],
    ) {
        let Some(w) = sink else { return };
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let data = frame.get(..PCAP_SNAPLEN as usize).unwrap_or(frame);
        match w.write_packet(&PcapPacket::new(ts, orig_len, data)) {
            Ok(_) => *written += 1,
            Err(e) => {
                *errors += 1;
                tracing::warn!(error = %e, "pcap capture failed; capture stops");
                *sink = None;
            }
        }
    }
}

impl<D: Device, W: Write> Device for PcapWriter<D, W> {
    fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        if self.mode == PcapMode::TxOnly {
            return self.inner.receive(now, budget, f);
        }
        let ts = self.timestamp(now);
        let (sink, written, errors) = (&mut self.sink, &mut self.written, &mut self.errors);
        self.inner.receive(now, budget, &mut |frame: &[u8]| {
            Self::record(sink, written, errors, ts, frame);
            f(frame);
        })
    }

    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        if self.mode == PcapMode::RxOnly {
            return self.inner.transmit(now, f);
        }
        let ts = self.timestamp(now);
        let (sink, written, errors) = (&mut self.sink, &mut self.written, &mut self.errors);
        self.inner.transmit(now, &mut |buf: &mut [u8]| {
            let len = f(buf).min(buf.len());
            if len > 0 {
                Self::record(sink, written, errors, ts, &buf[..len]);
            }
            len
        })
    }

    fn flush(&mut self, now: Instant) {
        self.inner.flush(now);
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }

    fn mac(&self) -> [u8; 6] {
        self.inner.mac()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memlink::MemLink;
    use pcap_file::pcap::PcapReader;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    #[test]
    fn records_both_directions_with_offset_timestamps() {
        let (a, mut b) = MemLink::pair(A, B, 1514);
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = PcapWriter::new(a, Vec::new(), PcapMode::Both, wall, t0).expect("header");
        assert!(
            a.transmit(t0 + Duration::from_millis(5), &mut |buf: &mut [u8]| {
                buf[..3].copy_from_slice(b"out");
                3
            })
        );
        assert!(b.transmit(t0, &mut |buf: &mut [u8]| {
            buf[..2].copy_from_slice(b"in");
            2
        }));
        let mut got = Vec::new();
        a.receive(t0 + Duration::from_millis(7), 8, &mut |f: &[u8]| {
            got.push(f.to_vec())
        });
        assert_eq!(got, vec![b"in".to_vec()]);
        assert_eq!(a.frames_written(), 2);
        let (_, sink) = a.into_parts();
        let bytes = sink.expect("sink");
        let mut reader = PcapReader::new(&bytes[..]).expect("reader");
        assert_eq!(reader.header().datalink, DataLink::ETHERNET);
        let p1 = reader.next_packet().expect("one").expect("ok");
        assert_eq!(&p1.data[..], b"out");
        assert_eq!(
            p1.timestamp,
            Duration::from_secs(1_700_000_000) + Duration::from_millis(5)
        );
        let p2 = reader.next_packet().expect("two").expect("ok");
        assert_eq!(&p2.data[..], b"in");
        assert!(reader.next_packet().is_none());
    }

    #[test]
    fn cancelled_transmit_is_not_recorded_and_modes_filter() {
        let (a, mut b) = MemLink::pair(A, B, 64);
        let t = Instant::now();
        let mut a =
            PcapWriter::new(a, Vec::new(), PcapMode::RxOnly, SystemTime::now(), t).expect("ok");
        assert!(a.transmit(t, &mut |_buf: &mut [u8]| 0));
        assert!(a.transmit(t, &mut |buf: &mut [u8]| {
            buf[0] = 1;
            1
        }));
        assert_eq!(a.frames_written(), 0);
        b.receive(t, 8, &mut |_f: &[u8]| {});
        b.transmit(t, &mut |_buf: &mut [u8]| 5);
        a.receive(t, 8, &mut |_f: &[u8]| {});
        assert_eq!(a.frames_written(), 1);
    }
}

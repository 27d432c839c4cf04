//! The TCP connection states of RFC 9293 §3.3.2.

use core::fmt;

/// A connection state (RFC 9293 §3.3.2, figure 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// Waiting for a connection request (a listener; a [`super::Tcb`] never is in this state).
    Listen,
    /// Our SYN is sent; waiting for the peer's SYN.
    SynSent,
    /// Both SYNs seen; waiting for the ACK of ours.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// Both FINs sent (simultaneous close); waiting for the ACK of ours.
    Closing,
    /// Both directions closed; waiting 2×MSL so late segments die out.
    TimeWait,
    /// The peer sent FIN; we may still send.
    CloseWait,
    /// We sent FIN after the peer's; waiting for its ACK.
    LastAck,
    /// No connection.
    Closed,
}

impl TcpState {
    /// Every state, in the order of [`TcpState::index`].
    pub const ALL: [TcpState; 11] = [
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::Closing,
        TcpState::TimeWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Closed,
    ];

    /// This state's position in [`TcpState::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A synchronized state (RFC 9293 §3.5.2): both ISNs known and the handshake done.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            TcpState::Listen | TcpState::SynSent | TcpState::SynReceived | TcpState::Closed
        )
    }

    /// Synchronized with data or a FIN of ours possibly outstanding: the states where the
    /// retransmission and tail-loss-probe timers run.
    pub fn sends_data(self) -> bool {
        matches!(
            self,
            TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::Closing
                | TcpState::LastAck
        )
    }

    /// Whether the peer's FIN has been received (no more data will arrive).
    pub fn fin_received(self) -> bool {
        matches!(
            self,
            TcpState::CloseWait | TcpState::LastAck | TcpState::Closing | TcpState::TimeWait
        )
    }

    /// Whether our FIN has been queued (no more user data may be sent).
    pub fn fin_queued(self) -> bool {
        matches!(
            self,
            TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::Closing
                | TcpState::TimeWait
                | TcpState::LastAck
                | TcpState::Closed
        )
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::Closing => "CLOSING",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Closed => "CLOSED",
        };
        f.write_str(s)
    }
}

//! retransmit tests.

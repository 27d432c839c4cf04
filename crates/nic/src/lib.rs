//! The NIC side of boomerang: the AF_XDP driver, the [`Device`] interface the stack drives,
//! and the helpers the tests and the demo use to build network namespaces.
//!
//! `unsafe` lives only in this crate; every block carries a `// SAFETY:` comment.

pub mod device;
pub mod fault;
pub mod memlink;
pub mod netns;
pub mod packet_socket;
pub mod pcap;
pub mod xsk;

pub use device::Device;

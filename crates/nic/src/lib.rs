//! The AF_XDP NIC driver: UMEM, rings, per-queue sockets and XDP program loading (not written yet).

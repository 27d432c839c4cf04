//! "Allocates nothing per request": warm keep-alive requests through the production loop
//! turn (`ServerShard::turn`: frame in → stack → HTTP → stack → frame out) over the
//! in-memory link, with allocations counted inside the server's turns only (the simulated
//! client and the test's own bookkeeping are not counted).

use std::cell::Cell;

use allocation_counter::AllocationInfo;
use boomerang::serve::sim::{SimOptions, SimPair, SiteDir};
use boomerang_http::ServerConfig;

thread_local! {
    static IN_TURNS: Cell<AllocationInfo> = Cell::new(AllocationInfo::default());
}

fn counted(turn: &mut dyn FnMut()) {
    let info = allocation_counter::measure(turn);
    IN_TURNS.with(|t| {
        let mut sum = t.get();
        sum += info;
        t.set(sum);
    });
}

fn warm_pair(requests: usize, request: &[u8]) -> (SimPair, boomerang_stack::ConnId, Vec<u8>) {
    let mut sim = SimPair::new(SimOptions::default()).unwrap();
    sim.record = false;
    let c = sim.connect().unwrap();
    let mut response = Vec::with_capacity(64 * 1024);
    for _ in 0..requests {
        sim.exchange_into(c, request, &mut response).unwrap();
    }
    (sim, c, response)
}

const GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn warm_keep_alive_requests_allocate_nothing_in_the_server_turn() {
    let (mut sim, c, mut response) = warm_pair(50, GET);
    sim.around_server_turn = counted;
    let n = 200;
    for _ in 0..n {
        sim.exchange_into(c, GET, &mut response).unwrap();
        assert!(response.ends_with(b"Hello, World!"));
    }
    let info = IN_TURNS.with(Cell::get);
    assert_eq!(
        info.count_total, 0,
        "{n} warm requests: {} allocations ({} bytes) in server turns",
        info.count_total, info.bytes_total
    );
}

/// A cached 64 KiB file on a warm keep-alive connection: the response's send ring (grown to
/// 64 KiB and given back once the client acknowledged it all) comes from the thread's spares
/// and the head's buffer returns to the connection, so nothing is allocated per response.
/// (Before: 2 allocations and 132 KB per response.) What remains over 200 responses is the
/// timer wheel's slots growing to their high-water mark (128 bytes, a few times while slots
/// of the higher levels are reached for the first time), bounded by the wheel's size.
#[test]
fn warm_keep_alive_file_responses_allocate_nothing_in_the_server_turn() {
    let body: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let site = SiteDir::new("alloc-free", &[("64k.bin", &body)]).unwrap();
    let opts = SimOptions {
        http: ServerConfig {
            root: Some(site.0.clone()),
            // Reloading the file once per TTL (on the pool, with its allocations) is not a
            // per-response cost; a TTL longer than the test's virtual time keeps it out.
            static_cache_ttl: std::time::Duration::from_secs(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let get: &[u8] = b"GET /64k.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut sim = SimPair::new(opts).unwrap();
    sim.record = false;
    let c = sim.connect().unwrap();
    let mut response = Vec::with_capacity(256 * 1024);
    // Warm: the file in the cache, the spares filled, every timer wheel slot used once.
    for _ in 0..1000 {
        sim.exchange_into(c, get, &mut response).unwrap();
    }
    sim.around_server_turn = counted;
    let n = 200;
    for _ in 0..n {
        sim.exchange_into(c, get, &mut response).unwrap();
        assert!(response.ends_with(&body));
    }
    let info = IN_TURNS.with(Cell::get);
    assert!(
        info.count_total <= 8 && info.bytes_total <= 8 * 128,
        "{n} warm 64 KiB responses: {} allocations ({} bytes) in server turns",
        info.count_total,
        info.bytes_total
    );
}

/// The counter works: a connection's first request (accept, buffers) does allocate.
#[test]
fn the_counter_sees_a_new_connections_allocations() {
    let (mut sim, _, mut response) = warm_pair(0, GET);
    sim.around_server_turn = counted;
    let c = sim.connect().unwrap();
    sim.exchange_into(c, GET, &mut response).unwrap();
    assert!(IN_TURNS.with(Cell::get).count_total > 0);
}

/// Heap held by the server per idle keep-alive connection (after one request each): the
/// net bytes allocated inside server turns, divided by the connections.
#[test]
fn idle_keep_alive_connections_hold_little_heap() {
    let mut sim = SimPair::new(SimOptions::default()).unwrap();
    sim.record = false;
    // 48 warm connections, then 2000 measured: 2048 in all, so the tables (which double)
    // end exactly full and no unused capacity is charged to the measured connections.
    let warm: Vec<_> = (0..48).map(|_| sim.connect().unwrap()).collect();
    let mut response = Vec::with_capacity(4096);
    for &c in &warm {
        sim.exchange_into(c, GET, &mut response).unwrap();
    }
    IN_TURNS.with(|t| t.set(AllocationInfo::default()));
    sim.around_server_turn = counted;
    let n = 2000;
    for _ in 0..n {
        let c = sim.connect().unwrap();
        sim.exchange_into(c, GET, &mut response).unwrap();
    }
    let info = IN_TURNS.with(Cell::get);
    let per_conn = info.bytes_current / n;
    eprintln!(
        "{n} idle keep-alive connections: {} bytes held by the server ({per_conn} per connection, {} allocations)",
        info.bytes_current, info.count_current
    );
    assert!(per_conn > 0, "the counter must see the connections' state");
    assert!(
        per_conn <= 2048,
        "{per_conn} bytes per idle connection (target: 2 KiB)"
    );
}

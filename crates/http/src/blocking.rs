//! The blocking pool: threads fed through a bounded crossbeam channel run file reads and
//! blocking handlers; results return to the owning worker through its lock-free
//! [`CompletionQueue`], followed by at most one wakeup per batch.
//!
//! Invariant: a worker never waits on the pool; a full pool is answered with 503.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_queue::SegQueue;

use crate::request_body::{BodyReader, StreamingHandler};
use crate::response_body::{BodySource, FileJob, FileStart, Piece};
use crate::router::{Handler, Request, Response};
use crate::static_files::{self, StaticRequest, StaticResponse};

/// Work for the pool.
pub(crate) enum Work {
    Static(StaticRequest),
    /// The next piece of a body (a file's next chunk, a producer's next piece).
    Chunk(BodySource, usize),
    Handler(Arc<dyn Handler>, Request),
    /// A streaming handler, reading its body as the shard receives it.
    Streaming(Arc<dyn StreamingHandler>, Request, BodyReader),
    /// A handler's file body to open.
    File(FileJob),
}

/// Result of a [`Work`] item.
pub(crate) enum WorkResult {
    Static(StaticResponse),
    Chunk(io::Result<Piece>),
    /// The handler's response, or its panic's message.
    Handler(Result<Response, String>),
    File(io::Result<FileStart>),
    /// A streaming handler consumed part of its body: the shard may read on (not a job's
    /// result; sent by the [`BodyReader`]).
    BodyRoom,
}

/// A job: the work, which connection it is for, and where to answer.
pub(crate) struct Job {
    pub conn_id: u64,
    pub reply: Arc<CompletionQueue>,
    pub work: Work,
}

/// A finished job on its way back to the worker that owns connection [`Completion::conn_id`].
pub struct Completion {
    conn_id: u64,
    pub(crate) result: WorkResult,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("conn_id", &self.conn_id)
            .finish_non_exhaustive()
    }
}

impl Completion {
    pub(crate) fn new(conn_id: u64, result: WorkResult) -> Self {
        Self { conn_id, result }
    }

    /// The connection id given to [`crate::HttpConnection::new`]; hand the completion to
    /// that connection's `on_completion`, or drop it if the connection is gone.
    pub fn conn_id(&self) -> u64 {
        self.conn_id
    }
}

/// One worker's inbox of completions (lock-free MPSC) with a coalescing wakeup.
pub struct CompletionQueue {
    queue: SegQueue<Completion>,
    wake_pending: AtomicBool,
    waker: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for CompletionQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionQueue")
            .field("len", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl CompletionQueue {
    /// A queue that calls `waker` (e.g. `mio::Waker::wake`) when it becomes non-empty.
    pub fn new(waker: Box<dyn Fn() + Send + Sync>) -> Self {
        Self {
            queue: SegQueue::new(),
            wake_pending: AtomicBool::new(false),
            waker,
        }
    }

    pub(crate) fn push(&self, c: Completion) {
        self.queue.push(c);
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            (self.waker)();
        }
    }

    /// Takes the next completion. Call until `None` after each wakeup.
    pub fn pop(&self) -> Option<Completion> {
        self.wake_pending.store(false, Ordering::Release);
        self.queue.pop()
    }
}

/// The blocking thread pool. Dropping it stops the threads once their queue is empty.
#[derive(Debug)]
pub struct BlockingPool {
    tx: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl BlockingPool {
    /// Starts `threads` threads (at least one) behind a queue of `capacity` jobs.
    pub fn new(threads: usize, capacity: usize) -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(capacity.max(1));
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let rx: Receiver<Job> = rx.clone();
            let h = std::thread::Builder::new()
                .name(format!("http-blocking-{i}"))
                .spawn(move || {
                    for job in rx.iter() {
                        run(job);
                    }
                })?;
            handles.push(h);
        }
        Ok(Self {
            tx: Some(tx),
            threads: handles,
        })
    }

    /// Jobs waiting in the queue now (not counting those being run).
    pub fn queued(&self) -> usize {
        self.tx.as_ref().map_or(0, Sender::len)
    }

    pub(crate) fn sender(&self) -> Option<Sender<Job>> {
        self.tx.clone()
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.tx = None;
        for h in self.threads.drain(..) {
            // A panicking handler already logged its panic; nothing more to do.
            let _ = h.join();
        }
    }
}

fn run(job: Job) {
    let result = match job.work {
        Work::Static(req) => WorkResult::Static(static_files::serve(&req)),
        Work::Chunk(source, n) => WorkResult::Chunk(
            crate::contain::catch(|| source.next_piece(n)).unwrap_or_else(|panic| {
                Err(io::Error::other(format!(
                    "the body producer panicked: {panic}"
                )))
            }),
        ),
        Work::Handler(h, req) => WorkResult::Handler(crate::contain::call(h.as_ref(), &req)),
        Work::Streaming(h, req, mut body) => {
            WorkResult::Handler(crate::request_body::call(h.as_ref(), &req, &mut body))
        }
        Work::File(job) => WorkResult::File(crate::response_body::open_file(&job)),
    };
    job.reply.push(Completion {
        conn_id: job.conn_id,
        result,
    });
}

/// The pool's queue is full (or the pool is gone); the job was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolFull;

/// Hands `job` to the pool without waiting.
pub(crate) fn try_submit(tx: Option<&Sender<Job>>, job: Job) -> Result<(), PoolFull> {
    match tx {
        Some(tx) => tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => PoolFull,
        }),
        None => Err(PoolFull),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Mutex;

    #[test]
    fn queued_counts_waiting_jobs_only() {
        let pool = BlockingPool::new(1, 8).expect("pool");
        assert_eq!(pool.queued(), 0);
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let started_tx = Mutex::new(started_tx);
        let release_rx = Mutex::new(release_rx);
        let handler: Arc<dyn Handler> = Arc::new(move |_: &Request| {
            let _ = started_tx.lock().expect("lock").send(());
            let _ = release_rx.lock().expect("lock").recv();
            Response::text("done")
        });
        let reply = Arc::new(CompletionQueue::new(Box::new(|| {})));
        let request = Request::new(http::Method::GET, "/");
        for conn_id in 0..3 {
            let job = Job {
                conn_id,
                reply: Arc::clone(&reply),
                work: Work::Handler(Arc::clone(&handler), request.clone()),
            };
            assert!(try_submit(pool.sender().as_ref(), job).is_ok());
        }
        // The one thread runs the first job and blocks in it: two wait in the queue.
        started_rx.recv().expect("first job started");
        assert_eq!(pool.queued(), 2);
        for _ in 0..3 {
            release_tx.send(()).expect("release");
        }
        drop(pool);
        let mut done = 0;
        while reply.pop().is_some() {
            done += 1;
        }
        assert_eq!(done, 3);
    }
}

//! Even connection counts across the worker threads.
//!
//! Each worker accepts from its own `SO_REUSEPORT` listener, and the kernel
//! picks the listener by a hash of the client's address and port: 32
//! connections split 19/13 about as often as 16/16, and the busier worker's
//! clients wait longer (its p99 in `scripts/bench-gateway.sh`). So a worker
//! that already serves more connections than the least loaded one hands the
//! new connection to it: one atomic read per worker on each accept, a channel
//! send on a hand-over, nothing per request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// A connection accepted by one worker for another to serve.
#[derive(Debug)]
pub struct Handed {
    /// The client's socket, out of the accepting worker's reactor.
    pub stream: std::net::TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Accepted on the HTTPS listener.
    pub tls: bool,
    /// Its connection slot, held until it closes.
    pub permit: OwnedSemaphorePermit,
}

/// Every worker's count of connections served, and its inbox.
#[derive(Debug)]
pub struct Balance {
    load: Vec<AtomicUsize>,
    inbox: Vec<mpsc::UnboundedSender<Handed>>,
}

impl Balance {
    /// For `workers` workers: the shared balance, and each worker's inbox.
    pub fn new(workers: usize) -> (Arc<Balance>, Vec<mpsc::UnboundedReceiver<Handed>>) {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        let load = (0..workers).map(|_| AtomicUsize::new(0)).collect();
        (Arc::new(Balance { load, inbox: tx }), rx)
    }

    /// Which worker serves a connection `me` just accepted; counted for it.
    pub fn assign(&self, me: usize) -> usize {
        let mine = self.load[me].load(Ordering::Relaxed);
        let (least, n) = self
            .load
            .iter()
            .enumerate()
            .map(|(i, l)| (i, l.load(Ordering::Relaxed)))
            .min_by_key(|&(_, n)| n)
            .unwrap_or((me, mine));
        let to = if mine > n { least } else { me };
        self.load[to].fetch_add(1, Ordering::Relaxed);
        to
    }

    /// Gives `h` to worker `to`; back when that worker has stopped.
    pub fn hand(&self, to: usize, h: Handed) -> Result<(), Handed> {
        match self.inbox.get(to) {
            Some(tx) => tx.send(h).map_err(|e| e.0),
            None => Err(h),
        }
    }

    /// Moves one counted connection from worker `from` to `to` (a hand-over that failed).
    pub fn recount(&self, from: usize, to: usize) {
        self.load[from].fetch_sub(1, Ordering::Relaxed);
        self.load[to].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection of worker `me` closed.
    pub fn done(&self, me: usize) {
        self.load[me].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_ahead_of_another_hands_its_new_connection_over() {
        let (b, _rx) = Balance::new(2);
        assert_eq!(b.assign(0), 0);
        assert_eq!(
            b.assign(0),
            1,
            "1 against 0: the next goes to the idle worker"
        );
        assert_eq!(b.assign(0), 0);
        assert_eq!(b.assign(0), 1);
        // The kernel sends everything to worker 0: the counts stay even.
        for _ in 0..28 {
            b.assign(0);
        }
        let (a, c) = (
            b.load[0].load(Ordering::Relaxed),
            b.load[1].load(Ordering::Relaxed),
        );
        assert_eq!(a + c, 32);
        assert!(a.abs_diff(c) <= 1, "{a}/{c}");
        b.done(1);
        b.done(1);
        b.done(1);
        assert_eq!(b.assign(1), 1, "the worker with fewer keeps its own");
    }
}

//! The relationships propagation across processes: a timely dataflow job
//! (docs/cluster.md, "The relationships dimension across nodes").
//!
//! The same fixed point as `credo_graph::propagate`, by Jacobi sweeps from `x = s`:
//!
//! ```text
//! x = (1 − a)·s + a · mean(contacts' x)        (no contacts: x = s)
//! ```
//!
//! - **Who holds what.** Each worker holds a [`Share`]: some subjects (a node's
//!   partitions), their own standings, and each one's contacts by key, wherever those
//!   contacts live. [`Owner`] says which worker holds a key.
//! - **A sweep** is two rounds of the dataflow (two timestamps):
//!   1. every worker adds up, per destination subject, the `x` of its own subjects that
//!      have that contact (the partial sums are combined on the sending worker, so one
//!      record per destination and sender crosses the network, not one per edge), and
//!      sends each sum with its count to the destination's worker;
//!   2. every worker computes its subjects' new `x`, and sends its largest move to every
//!      worker, so all of them see the same residual and stop after the same sweep.
//! - **The end.** After the last sweep, one more round of partial sums gives each
//!   subject its contacts' mean term, which the score reads.
//!
//! A contact whose key no worker holds (a subject with no record anywhere) sends nothing
//! and so counts for no one: the mean is over the contacts that exist.
//!
//! Workers are threads of one process (`timely::Config::process`) or processes over TCP
//! (`timely::CommunicationConfig::Cluster`), one per node.

use credo_graph::Params;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::InputHandle;
use timely::dataflow::operators::{Exchange, Input, Inspect, Probe};

/// The key no subject may have: it marks a residual record.
pub const RESERVED_KEY: u128 = u128::MAX;

/// Which worker holds a subject's key.
pub type Owner = Arc<dyn Fn(u128) -> usize + Send + Sync>;

/// One worker's subjects.
#[derive(Debug, Clone, Default)]
pub struct Share {
    /// Subjects' keys (`SubjectId::key`).
    pub keys: Vec<u128>,
    /// Each subject's own standing.
    pub own: Vec<f64>,
    /// Each subject's contacts, by key.
    pub contacts: Vec<Vec<u128>>,
}

/// What a worker ends with, for its own subjects in [`Share::keys`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub values: Vec<f64>,
    /// Each subject's contacts' mean term (`None`: no contacts).
    pub contacts: Vec<Option<f64>>,
    pub iterations: u32,
    /// The largest move in the last sweep, over all workers.
    pub residual: f64,
    pub converged: bool,
    /// Records this worker sent into the exchange (partial sums and residuals).
    pub records_sent: u64,
    /// Directed contact entries this worker read.
    pub edge_visits: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FlowError {
    #[error(transparent)]
    Params(#[from] credo_graph::GraphError),
    #[error("a share has {keys} keys but {own} standings and {contacts} contact lists")]
    Lengths {
        keys: usize,
        own: usize,
        contacts: usize,
    },
    #[error("key {0} is held twice by one worker")]
    DuplicateKey(u128),
    #[error("key {0} is reserved")]
    ReservedKey(u128),
    #[error("subject {key}'s own standing is {value}, not a finite number")]
    NotFinite { key: u128, value: f64 },
    #[error("key {key} belongs to worker {worker}, and there are {peers}")]
    NoWorker {
        key: u128,
        worker: usize,
        peers: usize,
    },
    #[error("timely: {0}")]
    Timely(String),
}

/// (destination worker, key, sum, count, round): a partial sum, or with
/// [`RESERVED_KEY`] a worker's largest move. The round is the timestamp it was sent at:
/// a faster worker's next round can arrive while this one is still finishing its own.
type Record = (u32, u128, f64, u32, u64);

/// Runs this worker's part of the job. Every worker of the computation must call it, with
/// the same `params` and `owner`.
pub fn run(
    worker: &mut timely::worker::Worker,
    share: &Share,
    owner: &Owner,
    params: &Params,
) -> Result<Outcome, FlowError> {
    params.check()?;
    let n = share.keys.len();
    if share.own.len() != n || share.contacts.len() != n {
        return Err(FlowError::Lengths {
            keys: n,
            own: share.own.len(),
            contacts: share.contacts.len(),
        });
    }
    let peers = worker.peers();
    let mut index: FxHashMap<u128, usize> = FxHashMap::default();
    index.reserve(n);
    for (i, &k) in share.keys.iter().enumerate() {
        if k == RESERVED_KEY {
            return Err(FlowError::ReservedKey(k));
        }
        if index.insert(k, i).is_some() {
            return Err(FlowError::DuplicateKey(k));
        }
        let v = share.own[i];
        if !v.is_finite() {
            return Err(FlowError::NotFinite { key: k, value: v });
        }
    }
    // Where each contact's sum goes, worked out once.
    let mut dest: FxHashMap<u128, u32> = FxHashMap::default();
    for &c in share.contacts.iter().flatten() {
        if let std::collections::hash_map::Entry::Vacant(e) = dest.entry(c) {
            let w = owner(c);
            if w >= peers {
                return Err(FlowError::NoWorker {
                    key: c,
                    worker: w,
                    peers,
                });
            }
            e.insert(w as u32);
        }
    }

    let mut input: InputHandle<u64, CapacityContainerBuilder<Vec<Record>>> = InputHandle::new();
    let got: Rc<RefCell<Vec<Record>>> = Rc::default();
    let sink = got.clone();
    let probe = worker.dataflow(|scope| {
        scope
            .input_from(&mut input)
            .exchange(|r: &Record| u64::from(r.0))
            .inspect(move |r| sink.borrow_mut().push(*r))
            .probe()
            .0
    });
    let mut job = Job {
        input,
        probe,
        got,
        time: 0,
        records_sent: 0,
        edge_visits: 0,
    };
    let sweep = |job: &mut Job, worker: &mut timely::worker::Worker, x: &[f64]| {
        job.sweep(worker, share, &dest, &index, x)
    };

    let a = params.damping;
    let mut x = share.own.clone();
    let mut iterations = 0;
    let mut residual = f64::INFINITY;
    let mut converged = false;
    while iterations < params.max_iterations {
        let (sums, counts) = sweep(&mut job, worker, &x);
        let mut moved = 0.0f64;
        for i in 0..n {
            let next = if counts[i] == 0 {
                share.own[i]
            } else {
                (1.0 - a) * share.own[i] + a * sums[i] / f64::from(counts[i])
            };
            moved = moved.max((next - x[i]).abs());
            x[i] = next;
        }
        iterations += 1;
        let out = (0..peers as u32)
            .map(|w| (w, RESERVED_KEY, moved, 0, job.time))
            .collect();
        residual = job
            .round(worker, out)
            .into_iter()
            .filter(|r| r.1 == RESERVED_KEY)
            .map(|r| r.2)
            .fold(0.0, f64::max);
        if residual <= params.tolerance {
            converged = true;
            break;
        }
    }
    // The contacts' mean of the final values.
    let (sums, counts) = sweep(&mut job, worker, &x);
    let contacts = (0..n)
        .map(|i| (counts[i] > 0).then(|| sums[i] / f64::from(counts[i])))
        .collect();
    let (records_sent, edge_visits) = (job.records_sent, job.edge_visits);
    job.input.close();
    while worker.step() {}
    Ok(Outcome {
        values: x,
        contacts,
        iterations,
        residual,
        converged,
        records_sent,
        edge_visits,
    })
}

/// One worker's dataflow: its input, where it reads what arrived, and its progress.
struct Job {
    input: InputHandle<u64, CapacityContainerBuilder<Vec<Record>>>,
    probe: timely::dataflow::ProbeHandle<u64>,
    got: Rc<RefCell<Vec<Record>>>,
    time: u64,
    records_sent: u64,
    edge_visits: u64,
}

impl Job {
    /// Sends `out`, closes the timestamp, and runs until everything sent at it by every
    /// worker has arrived; returns what arrived here.
    fn round(&mut self, worker: &mut timely::worker::Worker, out: Vec<Record>) -> Vec<Record> {
        self.records_sent += out.len() as u64;
        let now = self.time;
        for r in out {
            debug_assert_eq!(r.4, now);
            self.input.send(r);
        }
        self.time += 1;
        self.input.advance_to(self.time);
        while self.probe.less_than(self.input.time()) {
            worker.step();
        }
        // Keep what other workers already sent for later rounds.
        let mut got = self.got.borrow_mut();
        let (this, later): (Vec<Record>, Vec<Record>) = got.drain(..).partition(|r| r.4 == now);
        *got = later;
        this
    }

    /// Sends the partial sums of `x` per destination; returns the sums and counts of this
    /// worker's subjects.
    fn sweep(
        &mut self,
        worker: &mut timely::worker::Worker,
        share: &Share,
        dest: &FxHashMap<u128, u32>,
        index: &FxHashMap<u128, usize>,
        x: &[f64],
    ) -> (Vec<f64>, Vec<u32>) {
        let mut partial: FxHashMap<u128, (f64, u32)> = FxHashMap::default();
        for (i, cs) in share.contacts.iter().enumerate() {
            self.edge_visits += cs.len() as u64;
            for &c in cs {
                let e = partial.entry(c).or_insert((0.0, 0));
                e.0 += x[i];
                e.1 += 1;
            }
        }
        let out: Vec<Record> = partial
            .into_iter()
            .filter_map(|(k, (s, c))| Some((*dest.get(&k)?, k, s, c, self.time)))
            .collect();
        let n = share.keys.len();
        let mut sums = vec![0.0; n];
        let mut counts = vec![0u32; n];
        for (_, k, s, c, _) in self.round(worker, out) {
            if let Some(&i) = index.get(&k) {
                sums[i] += s;
                counts[i] += c;
            }
        }
        (sums, counts)
    }
}

/// Runs the job on `shares.len()` worker threads of this process (worker `i` holds
/// `shares[i]`); the outcomes in worker order.
pub fn run_threads(
    shares: Vec<Share>,
    owner: Owner,
    params: Params,
) -> Result<Vec<Outcome>, FlowError> {
    let workers = shares.len().max(1);
    let shares = Arc::new(shares);
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let share = shares.get(worker.index()).cloned().unwrap_or_default();
        run(worker, &share, &owner, &params)
    })
    .map_err(FlowError::Timely)?;
    guards
        .join()
        .into_iter()
        .map(|r| r.map_err(FlowError::Timely)?)
        .collect()
}

/// How long the processes of a job have to connect to each other.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(20);

/// Runs this process's part of the job as process `process` of `addresses` (TCP), with
/// one worker holding `share`. Every process calls it; it returns when the job is done,
/// or with an error when a peer does not connect within [`CONNECT_WITHIN`] or dies
/// during the job.
pub fn run_process(
    process: usize,
    addresses: Vec<String>,
    share: Share,
    owner: Owner,
    params: Params,
) -> Result<Outcome, FlowError> {
    run_process_within(process, addresses, share, owner, params, CONNECT_WITHIN)
}

/// [`run_process`] with the time the peers have to connect.
pub fn run_process_within(
    process: usize,
    addresses: Vec<String>,
    share: Share,
    owner: Owner,
    params: Params,
    connect_within: Duration,
) -> Result<Outcome, FlowError> {
    use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
    use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
    // The connections are made here, not by timely: timely's own setup retries a peer
    // that never comes for ever, so a peer that died between saying it was ready and
    // connecting held the others (and their listening ports) until the node's 10-minute
    // limit. Same handshake as timely's (`create_sockets`).
    let sockets = connect(process, &addresses, connect_within)?;
    let hooks = timely::communication::Hooks::default();
    let local = ProcessBuilder::new_typed_vector(1, hooks.refill.clone(), hooks.spill.clone());
    let (builders, comms) = initialize_networking_from_sockets(local, sockets, process, 1, hooks)
        .map_err(|e| FlowError::Timely(format!("starting the network: {e}")))?;
    let builders: Vec<AllocatorBuilder> = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
    let share = Arc::new(share);
    // A peer that dies during the job closes its connections: timely's network threads
    // panic, and so does the worker waiting on them. That is this job's failure, not the
    // node's: it comes back as an error within moments, and the threads are gone.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let guards = timely::execute::execute_from(
            builders,
            Box::new(comms),
            timely::WorkerConfig::default(),
            move |worker| run(worker, &share, &owner, &params),
        )
        .map_err(FlowError::Timely)?;
        guards
            .join()
            .into_iter()
            .next()
            .ok_or_else(|| FlowError::Timely("no worker ran".into()))?
            .map_err(FlowError::Timely)?
    }))
    .unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a worker panicked".into());
        Err(FlowError::Timely(format!(
            "the job failed (a peer lost?): {why}"
        )))
    })
}

/// Connects process `me` to every other process of `addresses` within `within`: it
/// listens on its own address, connects to each lower-numbered process and sends its
/// number (a big-endian `u64`, as timely does), and accepts each higher-numbered one,
/// reading its number. The sockets in process order, `None` at `me`.
fn connect(
    me: usize,
    addresses: &[String],
    within: Duration,
) -> Result<Vec<Option<TcpStream>>, FlowError> {
    let deadline = Instant::now() + within;
    let fail = |what: String| FlowError::Timely(format!("{what} within {} s", within.as_secs()));
    let io = |what: &str, e: std::io::Error| FlowError::Timely(format!("{what}: {e}"));
    let mine = addresses
        .get(me)
        .ok_or_else(|| FlowError::Timely(format!("process {me} has no address")))?;
    let mut sockets: Vec<Option<TcpStream>> = addresses.iter().map(|_| None).collect();
    // Listening first: a peer connecting early waits in the backlog, not in a retry.
    let listener =
        TcpListener::bind(mine.as_str()).map_err(|e| io(&format!("listening on {mine}"), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io("listening", e))?;
    for (i, address) in addresses.iter().enumerate().take(me) {
        let stream = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(format!("process {i} ({address}) did not accept")));
            }
            let target = address
                .to_socket_addrs()
                .map_err(|e| io(&format!("the address of process {i}"), e))?
                .next()
                .ok_or_else(|| FlowError::Timely(format!("no address for process {i}")))?;
            match TcpStream::connect_timeout(&target, left) {
                Ok(s) => break s,
                Err(_) => std::thread::sleep(Duration::from_millis(50).min(left)),
            }
        };
        stream
            .set_nodelay(true)
            .map_err(|e| io("a connection", e))?;
        (&stream)
            .write_all(&(me as u64).to_be_bytes())
            .map_err(|e| io(&format!("greeting process {i}"), e))?;
        sockets[i] = Some(stream);
    }
    let mut missing = addresses.len() - me - 1;
    while missing > 0 {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.set_nodelay(true))
                    .map_err(|e| io("a connection", e))?;
                let left = deadline.saturating_duration_since(Instant::now());
                stream
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .map_err(|e| io("a connection", e))?;
                let mut number = [0u8; 8];
                (&stream)
                    .read_exact(&mut number)
                    .map_err(|e| io("a peer's greeting", e))?;
                stream
                    .set_read_timeout(None)
                    .map_err(|e| io("a connection", e))?;
                let i = usize::try_from(u64::from_be_bytes(number)).unwrap_or(usize::MAX);
                match sockets.get_mut(i) {
                    Some(slot @ None) if i > me => {
                        *slot = Some(stream);
                        missing -= 1;
                    }
                    _ => return Err(FlowError::Timely(format!("a peer greeted as process {i}"))),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let who: Vec<usize> = (me + 1..addresses.len())
                        .filter(|&i| sockets[i].is_none())
                        .collect();
                    return Err(fail(format!("processes {who:?} did not connect")));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(io("accepting a peer", e)),
        }
    }
    Ok(sockets)
}

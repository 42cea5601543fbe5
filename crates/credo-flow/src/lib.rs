//! The relationships propagation across processes: a differential dataflow job on timely
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
//! - **Two collections, arranged where they are put in.** The contacts `(subject,
//!   contact)` and the subjects' terms `(subject, ())`, whose *difference* carries the
//!   term: a [`Mass`], a fixed-point sum and a count. Both are arranged by subject on the
//!   worker that holds the subject (`Pipeline`, no exchange), so their join is local.
//! - **A sweep is one round** (one timestamp). Round 0 puts in every term with a count
//!   of 1; round *k* puts in only the terms that moved in sweep *k*, as their change. The
//!   join (`join_traces`) sends each change along the arranged contacts to the contact's
//!   key; the output is combined per key over the whole round on the sending worker
//!   (`combine`, one record per key a round) and crosses to the key's worker, which adds
//!   it to what it has: the sum of its subjects' contacts' terms, kept up to date by
//!   changes alone. A term that stops moving sends nothing more.
//!   Beside it, every worker sends its sweep's largest move to every worker, so all see
//!   the same residual and stop after the same sweep. After the last round, the sums are
//!   those of the final terms: the contacts' means the score reads.
//! - **Fixed point, so the sums are exact.** A term is held as a multiple of 2⁻⁵²
//!   ([`SCALE`]) in an `i128`. Adding changes in any order, on any number of workers,
//!   gives the same sums to the bit, so the outcome does not depend on how the subjects
//!   are split (a property test holds it to that). The quantum is the f64 epsilon at 1,
//!   far below any tolerance the tests use; standings are limited to ±2⁴⁰.
//!
//! A contact whose key no worker holds (a subject with no record anywhere) is sent to
//! the worker [`Owner`] names, which drops it: the mean is over the contacts that exist.
//!
//! Workers are threads of one process (`timely::Config::process`) or processes over TCP
//! (`timely::CommunicationConfig::Cluster`), one per node.

use credo_graph::Params;
use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use differential_dataflow::input::{Input as _, InputSession};
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::join::join_traces;
use differential_dataflow::trace::implementations::{ValBatcher, ValSpine};
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::container::PushInto as _;
use timely::dataflow::InputHandle;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Exchange, Input, Inspect, Probe};

/// Terms are held as multiples of 1/`SCALE` (2⁻⁵²).
pub const SCALE: f64 = (1u64 << 52) as f64;

/// The largest standing's magnitude the job takes: 2⁴⁰, so that a sum over up to 2³⁴
/// contacts of terms held at 2⁵² to the unit stays within an `i128`.
pub const MAX_STANDING: f64 = (1u64 << 40) as f64;

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
    /// Records this worker sent into the exchange (combined changes of sums, and
    /// residuals).
    pub records_sent: u64,
    /// Contact entries the join read: every contact once in round 0, then the contacts
    /// of the subjects whose term moved.
    pub edge_visits: u64,
    /// Terms put in as changes after round 0 (a term that did not move is not).
    pub changes: u64,
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
    #[error("subject {key}'s own standing is {value}, not a finite number")]
    NotFinite { key: u128, value: f64 },
    #[error("subject {key}'s own standing is {value}, beyond ±2^40")]
    OutOfRange { key: u128, value: f64 },
    #[error("key {key} belongs to worker {worker}, and there are {peers}")]
    NoWorker {
        key: u128,
        worker: usize,
        peers: usize,
    },
    #[error("timely: {0}")]
    Timely(String),
}

/// A change of a sum of terms and of its count: the difference type of the terms'
/// collection. Adding is exact, so the order changes arrive in does not matter.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Mass {
    /// Terms at 1/[`SCALE`].
    pub sum: i128,
    pub count: i64,
}

impl IsZero for Mass {
    fn is_zero(&self) -> bool {
        self.sum == 0 && self.count == 0
    }
}

impl Semigroup for Mass {
    fn plus_equals(&mut self, rhs: &Self) {
        self.sum += rhs.sum;
        self.count += rhs.count;
    }
}

impl Monoid for Mass {
    fn zero() -> Self {
        Mass::default()
    }
}

impl Abelian for Mass {
    fn negate(&mut self) {
        self.sum = -self.sum;
        self.count = -self.count;
    }
}

/// A contact listed `n` times carries its subject's term `n` times.
impl Multiply<i64> for Mass {
    type Output = Mass;
    fn multiply(self, n: &i64) -> Mass {
        Mass {
            sum: self.sum * i128::from(*n),
            count: self.count * n,
        }
    }
}

/// A term in fixed point.
fn fixed(x: f64) -> i128 {
    // In range by `MAX_STANDING`: the terms are means of standings.
    (x * SCALE).round() as i128
}

/// A sum's mean, back in floating point.
fn mean(m: Mass) -> Option<f64> {
    (m.count > 0).then(|| m.sum as f64 / SCALE / m.count as f64)
}

/// (destination worker, largest move, round): a worker's residual for a round. The round
/// is the timestamp it was sent at: a faster worker's next round can arrive while this
/// one is still finishing its own.
type Move = (u32, f64, u64);

/// A change of the sum at a key, at a round.
type Change = (u128, u64, Mass);

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
        if index.insert(k, i).is_some() {
            return Err(FlowError::DuplicateKey(k));
        }
        let v = share.own[i];
        if !v.is_finite() {
            return Err(FlowError::NotFinite { key: k, value: v });
        }
        if v.abs() > MAX_STANDING {
            return Err(FlowError::OutOfRange { key: k, value: v });
        }
    }
    for &c in share.contacts.iter().flatten() {
        let w = owner(c);
        if w >= peers {
            return Err(FlowError::NoWorker {
                key: c,
                worker: w,
                peers,
            });
        }
    }

    let got: Rc<RefCell<Vec<Change>>> = Rc::default();
    let moves: Rc<RefCell<Vec<Move>>> = Rc::default();
    let sent = Rc::new(Cell::new(0u64));
    let visits = Rc::new(Cell::new(0u64));
    let (mut contacts_in, mut terms_in, mut moves_in, probe) = {
        let (got, moves, sent, visits) = (got.clone(), moves.clone(), sent.clone(), visits.clone());
        let route = owner.clone();
        worker.dataflow::<u64, _, _>(move |scope| {
            let (contacts_in, contacts) = scope.new_collection::<(u128, u128), i64>();
            let (terms_in, terms) = scope.new_collection::<(u128, ()), Mass>();
            // Both are put in by the worker that holds the subject: arranged in place.
            let contacts = arrange_core::<
                _,
                _,
                ValBatcher<u128, u128, u64, i64>,
                ValSpine<u128, u128, u64, i64>,
            >(contacts.inner, Pipeline, "Contacts", ValBatcher::new);
            let terms = arrange_core::<
                _,
                _,
                ValBatcher<u128, (), u64, Mass>,
                ValSpine<u128, (), u64, Mass>,
            >(terms.inner, Pipeline, "Terms", ValBatcher::new);
            let probe = timely::dataflow::ProbeHandle::new();
            let counted = sent.clone();
            // Each change of a term goes along the subject's contacts, to the contact's key.
            // (`join_core` would sort and combine every container of its output; the
            // combine below does that once for the whole round.)
            let sent_along = join_traces::<_, _, _, _, CapacityContainerBuilder<Vec<Change>>>(
                terms,
                contacts,
                "Send",
                move |_subject, _unit, contact: &u128, t, m: &Mass, n: &i64, out| {
                    visits.set(visits.get() + 1);
                    out.push_into((*contact, t, m.multiply(n)));
                },
            );
            // Combined per key over the whole round on the sending worker before the
            // exchange, one record per key a round. (`consolidate_stream` combines one
            // container at a time only and sent about one record per contact entry; an
            // arrangement in place combines as well, but with its merge sort the job took
            // 17 s where this one takes 8 and timely alone 2.6: BENCHMARKS.md.) Written by
            // hand because it is the job's hot loop: a hash map per open round, emptied
            // when the round's frontier passes.
            combine(sent_along)
                .inspect(move |_| counted.set(counted.get() + 1))
                .exchange(move |c: &Change| route(c.0) as u64)
                .inspect(move |c| got.borrow_mut().push(*c))
                .probe_with(&probe);
            let mut moves_in: InputHandle<u64, CapacityContainerBuilder<Vec<Move>>> =
                InputHandle::new();
            scope
                .input_from(&mut moves_in)
                .inspect(move |_| sent.set(sent.get() + 1))
                .exchange(|m: &Move| u64::from(m.0))
                .inspect(move |m| moves.borrow_mut().push(*m))
                .probe_with(&probe);
            (contacts_in, terms_in, moves_in, probe)
        })
    };

    // Round 0: the contacts, and every term with its count. The contacts do not change
    // during a job: their input closes here, and their arrangement is complete.
    let mut x: Vec<i128> = share.own.iter().map(|&s| fixed(s)).collect();
    for (i, cs) in share.contacts.iter().enumerate() {
        let k = share.keys[i];
        for &c in cs {
            contacts_in.update((k, c), 1);
        }
        terms_in.update(
            (k, ()),
            Mass {
                sum: x[i],
                count: 1,
            },
        );
    }
    drop(contacts_in);
    let mut sums = vec![Mass::default(); n];
    // Closes `round` on both inputs, runs until every worker's records of it have arrived,
    // adds them to `sums`, and returns the round's moves.
    let step = |round: u64,
                terms_in: &mut InputSession<u64, (u128, ()), Mass>,
                moves_in: &mut InputHandle<u64, CapacityContainerBuilder<Vec<Move>>>,
                worker: &mut timely::worker::Worker,
                sums: &mut [Mass]|
     -> Vec<Move> {
        terms_in.advance_to(round + 1);
        terms_in.flush();
        moves_in.advance_to(round + 1);
        while probe.less_than(&(round + 1)) {
            worker.step();
        }
        // Keep what other workers already sent for later rounds.
        got.borrow_mut().retain(|&(k, t, m)| {
            if t > round {
                return true;
            }
            if let Some(&i) = index.get(&k) {
                sums[i].plus_equals(&m);
            }
            false
        });
        let mut moves = moves.borrow_mut();
        let (this, later): (Vec<Move>, Vec<Move>) = moves.drain(..).partition(|m| m.2 == round);
        *moves = later;
        this
    };
    step(0, &mut terms_in, &mut moves_in, worker, &mut sums);

    let a = params.damping;
    let mut iterations = 0;
    let mut residual = f64::INFINITY;
    let mut converged = false;
    let mut changes = 0u64;
    while iterations < params.max_iterations {
        iterations += 1;
        let round = u64::from(iterations);
        let mut moved = 0i128;
        for i in 0..n {
            let next = match mean(sums[i]) {
                None => x[i],
                Some(m) => fixed((1.0 - a) * share.own[i] + a * m),
            };
            let delta = next - x[i];
            if delta != 0 {
                terms_in.update(
                    (share.keys[i], ()),
                    Mass {
                        sum: delta,
                        count: 0,
                    },
                );
                changes += 1;
                moved = moved.max(delta.abs());
                x[i] = next;
            }
        }
        let moved = moved as f64 / SCALE;
        for w in 0..peers as u32 {
            moves_in.send((w, moved, round));
        }
        let seen = step(round, &mut terms_in, &mut moves_in, worker, &mut sums);
        residual = seen.iter().map(|m| m.1).fold(0.0, f64::max);
        if residual <= params.tolerance {
            converged = true;
            break;
        }
    }
    drop(terms_in);
    moves_in.close();
    while worker.step() {}
    Ok(Outcome {
        values: x.iter().map(|&v| v as f64 / SCALE).collect(),
        contacts: sums.iter().map(|&m| mean(m)).collect(),
        iterations,
        residual,
        converged,
        records_sent: sent.get(),
        edge_visits: visits.get(),
        changes,
    })
}

/// Adds up the changes of each key at each round, and sends them on once the round is
/// complete: one record per key a round.
fn combine<'s>(
    stream: timely::dataflow::StreamVec<'s, u64, Change>,
) -> timely::dataflow::StreamVec<'s, u64, Change> {
    use std::collections::BTreeMap;
    use timely::dataflow::operators::Capability;
    use timely::dataflow::operators::generic::Operator;
    type Sums = FxHashMap<u128, Mass>;
    let mut open: BTreeMap<u64, (Capability<u64>, Sums)> = BTreeMap::new();
    // Maps emptied by earlier rounds, kept with their capacity: a round adds about as
    // many keys as the one before.
    let mut spare: Vec<Sums> = Vec::new();
    stream.unary_frontier(Pipeline, "Combine", move |_, _| {
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                // A container's changes are mostly of one round: look the round up once
                // for each run of them.
                for run in data.chunk_by(|x, y| x.1 == y.1) {
                    let t = run[0].1;
                    let (_, sums) = open
                        .entry(t)
                        .or_insert_with(|| (cap.delayed(&t, 0), spare.pop().unwrap_or_default()));
                    for &(k, _, m) in run {
                        sums.entry(k).or_default().plus_equals(&m);
                    }
                }
                data.clear();
            });
            while let Some(entry) = open.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (t, (cap, mut sums)) = entry.remove_entry();
                let mut session = output.session(&cap);
                for (k, m) in sums.drain() {
                    if !m.is_zero() {
                        session.give((k, t, m));
                    }
                }
                spare.push(sums);
            }
        }
    })
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

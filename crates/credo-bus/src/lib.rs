//! The cluster's event transport (issue 9) on NATS JetStream. An edge: this crate talks
//! to the network; what goes where is decided by the pure `credo-cluster`.
//!
//! - **One stream is the cluster's log.** Its subjects are `<prefix>.<partition>`, one per
//!   partition, kept on file storage with the configured number of replicas (3 in a
//!   three-server cluster, so that a server can die without losing an acknowledged
//!   message).
//! - **Publishing** ([`Bus::publish`]): an input is routed by subject ([`route`]), each
//!   partition's lines are cut into messages of at most [`MAX_MESSAGE`] bytes at line
//!   breaks, and every message is published with a `Nats-Msg-Id` that is the hash of its
//!   partition and content. All are sent before any acknowledgement is awaited, and the
//!   call returns only when every one is acknowledged: then they are on the replicas'
//!   disks. A message sent again (a retry after a timeout, a furnisher resending a file)
//!   is dropped by the stream's duplicate window, and past the window the nodes' engines
//!   drop its events, which are idempotent by `(source, id)`.
//! - **Consuming** ([`Bus::feed`]): one durable pull consumer per partition, named after
//!   it, with explicit acknowledgement. Whichever node owns the partition pulls from it,
//!   applies the events durably, then acknowledges; a new owner resumes where the old one
//!   acknowledged.
//! - **The assignment** of partitions to nodes is kept in a key-value bucket, written with
//!   compare-and-set on the revision ([`Bus::put_assignment`]).
//! - **Snapshots** of partitions' event logs are kept in an object store bucket, one
//!   object per partition with the stream sequence it covers ([`Bus::put_snapshot`]).
//! - **Public states** of subjects go to a second stream that keeps the last per subject
//!   ([`Bus::publish_public`]).

pub mod route;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use bytes::Bytes;
use credo_cluster::{Assignment, Partitioning};
use futures::StreamExt;
use std::time::Duration;

pub use route::{Refused, Routed, route, route_as};

/// The largest message the bus publishes (the NATS server's default limit is 1 MiB).
pub const MAX_MESSAGE: usize = 512 << 10;

/// The key of the assignment in the cluster's bucket.
const ASSIGNMENT_KEY: &str = "assignment";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("NATS JetStream: {what}: {message}")]
    JetStream { what: &'static str, message: String },
    #[error("the assignment changed under us (expected revision {expected}): {message}")]
    Conflict { expected: u64, message: String },
    #[error("the stored assignment is unreadable: {0}")]
    Assignment(#[from] credo_cluster::ClusterError),
}

impl BusError {
    /// A stable code, as every credo error has.
    pub fn code(&self) -> &'static str {
        match self {
            BusError::Connect { .. } | BusError::JetStream { .. } => "bus_unavailable",
            BusError::Conflict { .. } => "assignment_conflict",
            BusError::Assignment(_) => "bad_assignment",
        }
    }
}

fn js_err(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> BusError {
    move |e| BusError::JetStream {
        what,
        message: e.to_string(),
    }
}

/// How a bus is set up.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// Comma-separated server URLs, e.g. `nats://127.0.0.1:4222,nats://127.0.0.1:4223`.
    pub urls: String,
    /// The stream's name and its subjects' prefix.
    pub stream: String,
    pub prefix: String,
    /// The key-value bucket holding the assignment.
    pub bucket: String,
    /// Copies of every message (and of the bucket): 1 for one server, 3 for a cluster.
    pub replicas: usize,
    /// How long a message id is remembered for deduplication.
    pub duplicate_window: Duration,
}

impl BusConfig {
    pub fn new(urls: impl Into<String>, replicas: usize) -> BusConfig {
        BusConfig {
            urls: urls.into(),
            stream: "CREDO_EVENTS".into(),
            prefix: "credo.ev".into(),
            bucket: "credo-cluster".into(),
            replicas,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

/// What [`Bus::publish`] did with an input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Published {
    /// Lines routed and acknowledged by the stream.
    pub lines: u64,
    /// Messages acknowledged, and of those, how many the stream already had.
    pub messages: u64,
    pub duplicate_messages: u64,
    /// Lines the engine's parser refused (not published).
    pub refused: Vec<Refused>,
}

/// One message pulled from a partition's consumer.
pub struct Delivery {
    /// The stream's sequence number of the message.
    pub sequence: u64,
    message: jetstream::Message,
}

impl Delivery {
    /// The message's JSON lines, each ending in `\n`.
    pub fn lines(&self) -> &Bytes {
        &self.message.payload
    }

    /// Tells the stream this message is applied; it waits for the server's confirmation,
    /// so that a message is never both applied and delivered again to the next owner
    /// without the engine's idempotency catching it.
    ///
    /// A confirmation that times out (a busy server) is asked for again, up to five times:
    /// acknowledging twice is harmless.
    pub async fn ack(&self) -> Result<(), BusError> {
        let mut tries = 0;
        loop {
            match self.message.double_ack().await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 4 => {
                    tries += 1;
                    tracing::debug!(error = %e, sequence = self.sequence, "ack retried");
                }
                Err(e) => return Err(js_err("ack")(&e)),
            }
        }
    }
}

/// A partition's durable consumer.
pub struct Feed {
    pub partition: u32,
    consumer: consumer::Consumer<consumer::pull::Config>,
}

impl Feed {
    /// Up to `max` messages, waiting at most about `wait` for the first: each pull waits
    /// up to 200 ms, and an empty one is made again until `wait` is up.
    pub async fn next(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let start = tokio::time::Instant::now();
        loop {
            // A pull the server never answers (it died, or is too busy) is an error to
            // retry, not a hang.
            let got = tokio::time::timeout(Duration::from_secs(10), self.pull(max))
                .await
                .map_err(|_| BusError::JetStream {
                    what: "fetch",
                    message: "no answer in 10 s".into(),
                })??;
            if !got.is_empty() || start.elapsed() >= wait {
                return Ok(got);
            }
        }
    }

    /// Messages of this partition not yet delivered, plus those delivered but not yet
    /// acknowledged: a drain is done only when this is zero (an empty pull is not proof).
    pub async fn pending(&self) -> Result<u64, BusError> {
        let info = self
            .consumer
            .get_info()
            .await
            .map_err(|e| js_err("consumer info")(&e))?;
        Ok(info.num_pending + info.num_ack_pending as u64)
    }

    async fn pull(&self, max: usize) -> Result<Vec<Delivery>, BusError> {
        // A waiting pull that ends after 200 ms: what is there comes at once, and the
        // server's answer to a pull that found nothing is not a race with the inbox (a
        // non-waiting pull now and then came back empty with messages pending).
        let mut batch = self
            .consumer
            .batch()
            .max_messages(max)
            .expires(Duration::from_millis(200))
            .messages()
            .await
            .map_err(|e| js_err("fetch")(&e))?;
        let mut out = Vec::new();
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| js_err("fetch")(&e))?;
            let sequence = m
                .info()
                .map_err(|e| js_err("message info")(&e))?
                .stream_sequence;
            out.push(Delivery {
                sequence,
                message: m,
            });
        }
        Ok(out)
    }
}

/// A partition's messages in stream order from a given sequence, without
/// acknowledgements: the reader keeps its own position (a node records the last sequence
/// it applied in the partition's folder, with the state it produced). An ordered consumer
/// underneath recreates itself after a server fails, from where it was.
pub struct Reader {
    pub partition: u32,
    messages: consumer::pull::Ordered,
}

/// One message read by a [`Reader`].
pub struct Read {
    pub sequence: u64,
    /// Messages of the partition after this one, as the server saw it.
    pub pending: u64,
    pub lines: Bytes,
}

impl Reader {
    /// Up to `max` messages: waits up to `wait` for the first, then takes what arrives
    /// without waiting more than a few milliseconds between messages.
    pub async fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<Read>, BusError> {
        let mut out = Vec::new();
        let mut limit = wait;
        while out.len() < max {
            let got = match tokio::time::timeout(limit, self.messages.next()).await {
                Err(_) => break,
                Ok(None) => {
                    return Err(BusError::JetStream {
                        what: "read",
                        message: "the ordered consumer ended".into(),
                    });
                }
                Ok(Some(m)) => m.map_err(|e| js_err("read")(&e))?,
            };
            let info = got.info().map_err(|e| js_err("message info")(&e))?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            out.push(Read {
                sequence,
                pending,
                lines: got.message.payload.clone(),
            });
            if pending == 0 {
                break;
            }
            limit = Duration::from_millis(5);
        }
        Ok(out)
    }
}

/// A connection to the cluster's stream and bucket.
pub struct Bus {
    config: BusConfig,
    partitioning: Partitioning,
    js: jetstream::Context,
    stream: stream::Stream,
    /// Every subject's public state as its owner last published it ([`Bus::publish_public`]).
    public: stream::Stream,
    /// Partitions' access operations ([`Bus::publish_access`]).
    access: stream::Stream,
    kv: kv::Store,
    /// Partitions' snapshots ([`Bus::put_snapshot`]).
    snapshots: object_store::ObjectStore,
}

impl Bus {
    /// Connects, and creates the stream and the bucket if they do not exist yet.
    pub async fn connect(config: BusConfig, partitioning: Partitioning) -> Result<Bus, BusError> {
        let bad = |message: String| BusError::Connect {
            url: config.urls.clone(),
            message,
        };
        let servers = config
            .urls
            .split(',')
            .map(|u| u.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(servers)
            .await
            .map_err(|e| bad(e.to_string()))?;
        let js = jetstream::new(client);
        let stream = js
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![format!("{}.*", config.prefix)],
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                duplicate_window: config.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("create stream")(&e))?;
        // One message subject per subject ID, keeping only its last message: the stream is
        // the table of current public states, and a node that starts reads only that.
        let public = js
            .get_or_create_stream(stream::Config {
                name: public_stream(&config),
                subjects: vec![format!("{}.>", public_prefix(&config))],
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                max_messages_per_subject: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("create public stream")(&e))?;
        // Each partition's access operations (consents, disputes, tip-offs, reads): a
        // node that takes a partition over applies them from its folder's last. Kept
        // whole, but for messages published with a time to live (third parties' reads,
        // whose inquiries are kept 12 months).
        let access = js
            .get_or_create_stream(stream::Config {
                name: access_stream(&config),
                subjects: vec![format!("{}.*", access_prefix(&config))],
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                allow_message_ttl: true,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("create access stream")(&e))?;
        let kv = match js.get_key_value(config.bucket.as_str()).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: config.bucket.clone(),
                    history: 16,
                    storage: stream::StorageType::File,
                    num_replicas: config.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err("create bucket")(&e))?,
        };
        let name = snapshot_bucket(&config);
        let snapshots = match js.get_object_store(&name).await {
            Ok(o) => o,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: name,
                    storage: stream::StorageType::File,
                    num_replicas: config.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err("create snapshot bucket")(&e))?,
        };
        Ok(Bus {
            config,
            partitioning,
            js,
            stream,
            public,
            access,
            kv,
            snapshots,
        })
    }

    /// [`Bus::connect`], retried for up to `wait`: a server that has just started, or a
    /// cluster electing its JetStream leader, refuses for a few seconds.
    pub async fn connect_within(
        config: BusConfig,
        partitioning: Partitioning,
        wait: Duration,
    ) -> Result<Bus, BusError> {
        let start = tokio::time::Instant::now();
        loop {
            match Bus::connect(config.clone(), partitioning).await {
                Ok(b) => return Ok(b),
                Err(e) if start.elapsed() < wait => {
                    tracing::debug!(error = %e, "waiting for JetStream");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn partitioning(&self) -> Partitioning {
        self.partitioning
    }

    /// The subject of partition `p`.
    pub fn subject(&self, p: u32) -> String {
        format!("{}.{p}", self.config.prefix)
    }

    /// Routes `input` and publishes it; returns once every message is acknowledged.
    pub async fn publish(&self, input: &[u8]) -> Result<Published, BusError> {
        self.publish_as(input, None).await
    }

    /// [`Bus::publish`] for a sender over the API ([`route_as`]).
    pub async fn publish_as(
        &self,
        input: &[u8],
        sender: Option<&credo_engine::Sender>,
    ) -> Result<Published, BusError> {
        let routed = route_as(self.partitioning, input, sender);
        let mut out = Published {
            lines: routed.routed,
            refused: routed.refused,
            ..Default::default()
        };
        // Acknowledgements awaited in order, at most `IN_FLIGHT` outstanding: a server
        // refuses a client with too many (429 "too many requests" with a 700 MB input).
        let mut pending = std::collections::VecDeque::new();
        for (p, lines) in routed.parts {
            // Messages are slices of the partition's buffer, not copies.
            let lines = Bytes::from(lines);
            for chunk in cut(&lines, MAX_MESSAGE) {
                if pending.len() >= IN_FLIGHT
                    && let Some(ack) = pending.pop_front()
                {
                    settle(ack, &mut out).await?;
                }
                let id = message_id(p, chunk);
                let ack = self
                    .js
                    .send_publish(
                        self.subject(p),
                        jetstream::message::PublishMessage::build()
                            .payload(lines.slice_ref(chunk))
                            .message_id(id),
                    )
                    .await
                    .map_err(|e| js_err("publish")(&e))?;
                pending.push_back(ack);
            }
        }
        for ack in pending {
            settle(ack, &mut out).await?;
        }
        Ok(out)
    }

    /// The durable consumer of partition `p`, created if needed.
    pub async fn feed(&self, p: u32) -> Result<Feed, BusError> {
        let name = format!("p{p}");
        let consumer = self
            .stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: self.subject(p),
                    ack_policy: consumer::AckPolicy::Explicit,
                    deliver_policy: consumer::DeliverPolicy::All,
                    ack_wait: Duration::from_secs(60),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| js_err("create consumer")(&e))?;
        Ok(Feed {
            partition: p,
            consumer,
        })
    }

    /// Reads partition `p` in order from stream sequence `from` (1 is the start).
    pub async fn reader(&self, p: u32, from: u64) -> Result<Reader, BusError> {
        ordered(&self.stream, self.subject(p), p, from).await
    }

    /// Publishes public states (partition, subject ID, [`credo_engine::public::PublicState`]
    /// JSON); returns once every one is acknowledged. The stream keeps the last per subject.
    pub async fn publish_public(&self, states: &[(u32, String, Bytes)]) -> Result<(), BusError> {
        let mut pending = std::collections::VecDeque::new();
        for (p, id, json) in states {
            if pending.len() >= IN_FLIGHT
                && let Some(ack) = pending.pop_front()
            {
                public_settled(ack).await?;
            }
            let subject = format!("{}.{p}.{id}", public_prefix(&self.config));
            let ack = self
                .js
                .publish(subject, json.clone())
                .await
                .map_err(|e| js_err("publish public")(&e))?;
            pending.push_back(ack);
        }
        for ack in pending {
            public_settled(ack).await?;
        }
        Ok(())
    }

    /// Reads every public state in stream order from sequence `from` (1 is the start).
    /// Its messages' `lines` are the states' JSON.
    pub async fn public_reader(&self, from: u64) -> Result<Reader, BusError> {
        let filter = format!("{}.>", public_prefix(&self.config));
        ordered(&self.public, filter, u32::MAX, from).await
    }

    /// Stores partition `p`'s snapshot: `data` is its event log up to a batch boundary
    /// that holds every event of the stream up to sequence `seq`. It replaces the last
    /// one only once whole (the object store's put).
    pub async fn put_snapshot(
        &self,
        p: u32,
        seq: u64,
        data: &mut (impl tokio::io::AsyncRead + Unpin),
    ) -> Result<(), BusError> {
        let meta = object_store::ObjectMetadata {
            name: format!("p{p}"),
            metadata: [(SNAPSHOT_SEQ.to_string(), seq.to_string())].into(),
            ..Default::default()
        };
        self.snapshots
            .put(meta, data)
            .await
            .map_err(|e| js_err("put snapshot")(&e))?;
        Ok(())
    }

    /// The stream sequence partition `p`'s snapshot covers, and its size (`None`: none).
    pub async fn snapshot_info(&self, p: u32) -> Result<Option<(u64, usize)>, BusError> {
        match self.snapshots.info(format!("p{p}")).await {
            Ok(info) => Ok(Some((snapshot_seq(&info)?, info.size))),
            Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => Ok(None),
            Err(e) => Err(js_err("snapshot info")(&e)),
        }
    }

    /// Copies partition `p`'s snapshot into `out` (its digest checked as it is read);
    /// returns the stream sequence it covers, or `None` if there is no snapshot.
    pub async fn get_snapshot(
        &self,
        p: u32,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<Option<u64>, BusError> {
        let mut obj = match self.snapshots.get(format!("p{p}")).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(js_err("get snapshot")(&e)),
        };
        let seq = snapshot_seq(&obj.info)?;
        tokio::io::copy(&mut obj, out)
            .await
            .map_err(|e| js_err("read snapshot")(&e))?;
        Ok(Some(seq))
    }

    /// Appends partition `p`'s access operations in order, each kept for its time to
    /// live if it has one (else for good); returns each one's stream sequence once every
    /// one is acknowledged.
    pub async fn publish_access(
        &self,
        p: u32,
        ops: &[(Bytes, Option<Duration>)],
    ) -> Result<Vec<u64>, BusError> {
        let subject = format!("{}.{p}", access_prefix(&self.config));
        let mut acks = Vec::with_capacity(ops.len());
        for (op, ttl) in ops {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(ttl) = ttl {
                // Whole seconds (the server's plain-number form), at least one.
                let secs = ttl.as_secs().max(1).to_string();
                headers.insert(async_nats::header::NATS_MESSAGE_TTL, secs.as_str());
            }
            acks.push(
                self.js
                    .publish_with_headers(subject.clone(), headers, op.clone())
                    .await
                    .map_err(|e| js_err("publish access")(&e))?,
            );
        }
        let mut out = Vec::with_capacity(acks.len());
        for ack in acks {
            out.push(
                ack.await
                    .map_err(|e| js_err("publish access acknowledgement")(&e))?
                    .sequence,
            );
        }
        Ok(out)
    }

    /// Reads partition `p`'s access operations in order from stream sequence `from`.
    pub async fn access_reader(&self, p: u32, from: u64) -> Result<Reader, BusError> {
        let subject = format!("{}.{p}", access_prefix(&self.config));
        ordered(&self.access, subject, p, from).await
    }

    /// The access stream's last sequence holding an operation of partition `p` (0: none).
    pub async fn access_last_sequence(&self, p: u32) -> Result<u64, BusError> {
        last_by_subject(
            &self.access,
            &format!("{}.{p}", access_prefix(&self.config)),
        )
        .await
    }

    /// The public stream's last sequence number (0: empty).
    pub async fn public_last_sequence(&self) -> Result<u64, BusError> {
        let mut s = self
            .js
            .get_stream(public_stream(&self.config))
            .await
            .map_err(|e| js_err("stream info")(&e))?;
        let info = s.info().await.map_err(|e| js_err("stream info")(&e))?;
        Ok(info.state.last_sequence)
    }

    /// The stream's last sequence number holding a message of partition `p` (0: none).
    pub async fn last_sequence(&self, p: u32) -> Result<u64, BusError> {
        last_by_subject(&self.stream, &self.subject(p)).await
    }

    /// Deletes the streams and the bucket (for benchmarks and tests that made their own).
    pub async fn destroy(self) -> Result<(), BusError> {
        for name in [
            self.config.stream.clone(),
            public_stream(&self.config),
            access_stream(&self.config),
        ] {
            self.js
                .delete_stream(name.as_str())
                .await
                .map_err(|e| js_err("delete stream")(&e))?;
        }
        self.js
            .delete_object_store(snapshot_bucket(&self.config))
            .await
            .map_err(|e| js_err("delete snapshot bucket")(&e))?;
        self.js
            .delete_key_value(self.config.bucket.as_str())
            .await
            .map_err(|e| js_err("delete bucket")(&e))?;
        Ok(())
    }

    /// Messages in the stream, and the last sequence number.
    pub async fn stream_state(&self) -> Result<(u64, u64), BusError> {
        let mut s = self
            .js
            .get_stream(self.config.stream.as_str())
            .await
            .map_err(|e| js_err("stream info")(&e))?;
        let info = s.info().await.map_err(|e| js_err("stream info")(&e))?;
        Ok((info.state.messages, info.state.last_sequence))
    }

    /// The stored assignment and its revision, if one was stored.
    pub async fn assignment(&self) -> Result<Option<(Assignment, u64)>, BusError> {
        let entry = self
            .kv
            .entry(ASSIGNMENT_KEY)
            .await
            .map_err(|e| js_err("read assignment")(&e))?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let text = String::from_utf8_lossy(&e.value);
                Ok(Some((Assignment::parse(&text)?, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Stores `a` if the stored assignment is still at revision `expected` (`None`: none
    /// stored yet); returns the new revision. Two nodes deciding at once cannot both win.
    pub async fn put_assignment(
        &self,
        a: &Assignment,
        expected: Option<u64>,
    ) -> Result<u64, BusError> {
        self.put_value_if(ASSIGNMENT_KEY, Bytes::from(a.to_text()), expected)
            .await
    }

    /// Stores `value` under `key` if the key is still at revision `expected` (`None`:
    /// nothing stored yet); returns the new revision, or [`BusError::Conflict`] if another
    /// writer came first.
    pub async fn put_value_if(
        &self,
        key: &str,
        value: Bytes,
        expected: Option<u64>,
    ) -> Result<u64, BusError> {
        let conflict = |e: &dyn std::fmt::Display| BusError::Conflict {
            expected: expected.unwrap_or(0),
            message: e.to_string(),
        };
        match expected {
            None => self.kv.create(key, value).await.map_err(|e| conflict(&e)),
            Some(rev) => self
                .kv
                .update(key, value, rev)
                .await
                .map_err(|e| conflict(&e)),
        }
    }

    /// A value and its revision, if one is stored.
    pub async fn value_entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, BusError> {
        let entry = self
            .kv
            .entry(key)
            .await
            .map_err(|e| js_err("read a value")(&e))?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .map(|e| (e.value, e.revision)))
    }
}

/// Liveness: each node counts up its own key, `alive.<node>`, in the bucket.
impl Bus {
    /// Stores `count` as `node`'s heartbeat.
    pub async fn beat(&self, node: &str, count: u64) -> Result<(), BusError> {
        self.kv
            .put(format!("alive.{node}"), Bytes::from(count.to_string()))
            .await
            .map_err(|e| js_err("heartbeat")(&e))?;
        Ok(())
    }

    /// `node`'s last heartbeat count, if it ever beat.
    pub async fn beat_of(&self, node: &str) -> Result<Option<u64>, BusError> {
        let v = self
            .kv
            .get(format!("alive.{node}"))
            .await
            .map_err(|e| js_err("read heartbeat")(&e))?;
        Ok(v.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok()))
    }
}

/// Other cluster settings in the bucket: node addresses, API keys.
impl Bus {
    /// Stores `value` under `key` (last writer wins).
    pub async fn put_value(&self, key: &str, value: Bytes) -> Result<(), BusError> {
        self.kv
            .put(key, value)
            .await
            .map_err(|e| js_err("put")(&e))?;
        Ok(())
    }

    /// The value under `key`, if there is one.
    pub async fn value(&self, key: &str) -> Result<Option<Bytes>, BusError> {
        self.kv.get(key).await.map_err(|e| js_err("get")(&e))
    }

    /// Every key that starts with one of `prefixes` (one listing of the bucket).
    pub async fn keys_under(&self, prefixes: &[&str]) -> Result<Vec<String>, BusError> {
        let keys = self.kv.keys().await.map_err(|e| js_err("keys")(&e))?;
        let all: Vec<Result<String, _>> = keys.collect().await;
        let mut out = Vec::new();
        for k in all {
            let k = k.map_err(|e| js_err("keys")(&e))?;
            if prefixes.iter().any(|p| k.starts_with(p)) {
                out.push(k);
            }
        }
        Ok(out)
    }
}

/// Messages whose acknowledgement a publish may await at once.
const IN_FLIGHT: usize = 256;

/// The snapshots' object store bucket: `credo-cluster-snapshots`.
fn snapshot_bucket(c: &BusConfig) -> String {
    format!("{}-snapshots", c.bucket)
}

/// The metadata key of the stream sequence a snapshot covers.
const SNAPSHOT_SEQ: &str = "stream-seq";

fn snapshot_seq(info: &object_store::ObjectInfo) -> Result<u64, BusError> {
    info.metadata
        .get(SNAPSHOT_SEQ)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| BusError::JetStream {
            what: "snapshot info",
            message: format!("snapshot {} has no {SNAPSHOT_SEQ}", info.name),
        })
}

/// The public stream's name and subjects' prefix: `CREDO_EVENTS_PUBLIC`, `credo.ev-pub`
/// (no subject of the events stream's `credo.ev.*` matches `credo.ev-pub.>`).
fn public_stream(c: &BusConfig) -> String {
    format!("{}_PUBLIC", c.stream)
}

fn public_prefix(c: &BusConfig) -> String {
    format!("{}-pub", c.prefix)
}

/// The access stream's name and subjects' prefix: `CREDO_EVENTS_ACCESS`, `credo.ev-acc`.
fn access_stream(c: &BusConfig) -> String {
    format!("{}_ACCESS", c.stream)
}

fn access_prefix(c: &BusConfig) -> String {
    format!("{}-acc", c.prefix)
}

async fn last_by_subject(stream: &stream::Stream, subject: &str) -> Result<u64, BusError> {
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(m) => Ok(m.sequence),
        Err(e)
            if e.kind()
                == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
        {
            Ok(0)
        }
        Err(e) => Err(js_err("last message")(&e)),
    }
}

async fn public_settled(ack: jetstream::context::PublishAckFuture) -> Result<(), BusError> {
    ack.await.map_err(|e| js_err("publish public")(&e))?;
    Ok(())
}

/// An ordered consumer of `filter` in `stream` from sequence `from`.
async fn ordered(
    stream: &stream::Stream,
    filter: String,
    partition: u32,
    from: u64,
) -> Result<Reader, BusError> {
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: if from <= 1 {
                consumer::DeliverPolicy::All
            } else {
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                }
            },
            ..Default::default()
        })
        .await
        .map_err(|e| js_err("create reader")(&e))?;
    let messages = consumer.messages().await.map_err(|e| js_err("read")(&e))?;
    Ok(Reader {
        partition,
        messages,
    })
}

async fn settle(
    ack: jetstream::context::PublishAckFuture,
    out: &mut Published,
) -> Result<(), BusError> {
    let ack = ack
        .await
        .map_err(|e| js_err("publish acknowledgement")(&e))?;
    out.messages += 1;
    out.duplicate_messages += u64::from(ack.duplicate);
    Ok(())
}

/// Cuts `lines` (each ending in `\n`) into pieces of at most `max` bytes at line breaks;
/// a single line longer than `max` is a piece of its own.
pub fn cut(lines: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let limit = (start + max).min(lines.len());
        let end = if limit == lines.len() {
            limit
        } else {
            match lines[start..limit].iter().rposition(|&b| b == b'\n') {
                Some(i) => start + i + 1,
                None => {
                    // One line longer than max: up to its end.
                    lines[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(lines.len(), |i| start + i + 1)
                }
            }
        };
        out.push(&lines[start..end]);
        start = end;
    }
    out
}

/// A message's id: its partition and the hash of its content, so that the same message
/// sent again has the same id.
fn message_id(p: u32, chunk: &[u8]) -> String {
    format!(
        "{p}-{:032x}",
        xxhash_rust::xxh3::xxh3_128_with_seed(chunk, u64::from(p))
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::cut;

    #[test]
    fn cut_keeps_lines_whole_and_loses_nothing() {
        let text: Vec<u8> = (0..200)
            .flat_map(|i| format!("{}\n", "x".repeat(i % 37)).into_bytes())
            .collect();
        for max in [1, 5, 36, 37, 38, 100, 10_000] {
            let pieces = cut(&text, max);
            assert_eq!(pieces.concat(), text, "max {max}");
            for p in &pieces {
                assert!(p.ends_with(b"\n"));
                // Over max only when it is one line.
                assert!(p.len() <= max || p.iter().filter(|&&b| b == b'\n').count() == 1);
            }
        }
        assert!(cut(b"", 10).is_empty());
    }
}

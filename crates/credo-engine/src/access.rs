//! The access journal on disk: the hash-chained audit log (`audit.log`) whose entries are
//! the access operations (keys, consents, disputes, tip-offs, ingests, policy installs,
//! third-party reads), its head (`audit.head`), and the inquiry log in monthly segments
//! (`inquiries/YYYY-MM.log`), deleted whole once every inquiry in them is past retention.
//!
//! Both logs are `credo-store` logs (batches, CRCs, group commit, torn-tail recovery). An
//! audit record's body is `seq (8, LE) ‖ prev (32) ‖ hash (32) ‖ JSON`; the chain covers the
//! JSON (see `credo_access::audit`). A read's audit entry keeps the SHA-256 of its inquiry
//! record, not the subject, so deleting inquiries leaves the chain whole.

use crate::error::{EngineError, io};
use credo_access::state::inquiry_digest;
use credo_access::{
    AccessOp, AccessState, Chain, ChainError, Inquiry, InquiryLog, KeyRecord, Link, Resolution,
    Role,
};
use credo_model::{Day, SubjectId, Timestamp};
use credo_store::{Batch, Log, Recovery, StoreError};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub const AUDIT_FILE: &str = "audit.log";
pub const HEAD_FILE: &str = "audit.head";
pub const INQUIRY_DIR: &str = "inquiries";
const LINK: usize = 8 + 32 + 32;

/// An operation waiting to be logged.
#[derive(Debug, Clone)]
pub struct Pending {
    pub at: Timestamp,
    /// `role:party` of whoever did it.
    pub actor: String,
    pub key: Option<String>,
    pub op: AccessOp,
    /// For a third-party read: what was read and answered. The audit entry gets its digest.
    pub inquiry: Option<Inquiry>,
}

impl Pending {
    /// A third party's read: the audit entry is a `read` carrying the inquiry's digest,
    /// which [`Journal::append`] computes.
    pub fn read(actor: String, key: Option<String>, inquiry: Inquiry) -> Pending {
        Pending {
            at: inquiry.at,
            actor,
            key,
            op: AccessOp::Read { inquiry: [0; 32] },
            inquiry: Some(inquiry),
        }
    }
}

/// A logged (synced) operation.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub seq: u64,
    /// Its sequence number in the cluster's access log, for a cluster partition's
    /// operation ([`Journal::append_from`]); `None` on one machine.
    pub origin: Option<u64>,
    pub at: Timestamp,
    pub actor: String,
    pub op: AccessOp,
    pub inquiry: Option<Inquiry>,
}

impl Sealed {
    /// The id of the grant, dispute or tip-off it made: its number in the cluster's access
    /// log if it came from one, else its entry's sequence number.
    pub fn id(&self) -> u64 {
        self.origin.unwrap_or(self.seq)
    }
}

/// Whether a cluster partition sends the operation through the cluster's access log (so
/// that it moves with the partition): what concerns the partition's subjects. Keys,
/// policy installs and ingest counts are the node's own (the keys and the policy file
/// come from the cluster's bucket; the events from the events stream).
pub fn replicated(op: &AccessOp) -> bool {
    !matches!(
        op,
        AccessOp::KeyCreate(_)
            | AccessOp::KeyRevoke { .. }
            | AccessOp::PolicyInstall { .. }
            | AccessOp::Ingest { .. }
    )
}

/// The open journal: appends, group-committed by the caller's batching.
pub struct Journal {
    dir: PathBuf,
    audit: Log,
    head_file: std::fs::File,
    seq: u64,
    prev: [u8; 32],
    segment: Option<(i32, Log)>,
    batch: Batch,
    inquiry_batch: Batch,
}

/// What opening the journal found.
#[derive(Debug, Clone, Default)]
pub struct JournalReport {
    pub entries: u64,
    pub inquiries: usize,
    pub forgotten_inquiries: usize,
    pub audit_recovery: Recovery,
}

// ---- the JSON of an entry -------------------------------------------------------------

// No `deny_unknown_fields` here: serde does not support it together with `flatten`.
#[derive(Serialize, Deserialize)]
struct EntryJson {
    at: String,
    actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// The sequence number in the cluster's access log it came from.
    #[serde(default, rename = "stream", skip_serializing_if = "Option::is_none")]
    origin: Option<u64>,
    #[serde(flatten)]
    op: OpJson,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op")]
enum OpJson {
    #[serde(rename = "key.create")]
    KeyCreate {
        id: String,
        sha256: String,
        role: String,
        party: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    #[serde(rename = "key.revoke")]
    KeyRevoke { id: String },
    #[serde(rename = "consent.grant")]
    ConsentGrant {
        subject: String,
        party: String,
        purpose: String,
        until: String,
    },
    #[serde(rename = "consent.revoke")]
    ConsentRevoke { subject: String, id: u64 },
    #[serde(rename = "dispute.file")]
    DisputeFile {
        subject: String,
        source: String,
        event: String,
        reason: String,
    },
    #[serde(rename = "dispute.resolve")]
    DisputeResolve {
        id: u64,
        by: String,
        resolution: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replacement: Option<String>,
        note: String,
    },
    #[serde(rename = "tipoff")]
    Tipoff {
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        case: Option<String>,
        text: String,
    },
    #[serde(rename = "notice.impressions")]
    Impressions { case: String, delivered: u64 },
    #[serde(rename = "ingest")]
    Ingest {
        accepted: u64,
        duplicates: u64,
        rejected: u64,
    },
    #[serde(rename = "policy.install")]
    PolicyInstall { offers: u64, sha256: String },
    #[serde(rename = "read")]
    Read { inquiry: String },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InquiryJson {
    at: String,
    subject: String,
    role: String,
    party: String,
    what: String,
    answer: String,
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(b))
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn op_json(op: &AccessOp) -> OpJson {
    match op {
        AccessOp::KeyCreate(k) => OpJson::KeyCreate {
            id: k.id.clone(),
            sha256: hex(&k.hash),
            role: k.role.name().into(),
            party: k.party.clone(),
            subject: k.subject.map(|s| s.to_string()),
        },
        AccessOp::KeyRevoke { id } => OpJson::KeyRevoke { id: id.clone() },
        AccessOp::ConsentGrant {
            subject,
            party,
            purpose,
            until,
        } => OpJson::ConsentGrant {
            subject: subject.to_string(),
            party: party.clone(),
            purpose: purpose.clone(),
            until: until.to_string(),
        },
        AccessOp::ConsentRevoke { subject, id } => OpJson::ConsentRevoke {
            subject: subject.to_string(),
            id: *id,
        },
        AccessOp::DisputeFile {
            subject,
            source,
            event,
            reason,
        } => OpJson::DisputeFile {
            subject: subject.to_string(),
            source: source.clone(),
            event: event.clone(),
            reason: reason.clone(),
        },
        AccessOp::DisputeResolve {
            id,
            by,
            resolution,
            note,
        } => OpJson::DisputeResolve {
            id: *id,
            by: by.clone(),
            resolution: resolution.name().into(),
            replacement: match resolution {
                Resolution::Corrected { replacement } => Some(replacement.clone()),
                _ => None,
            },
            note: note.clone(),
        },
        AccessOp::Tipoff {
            subject,
            case,
            text,
        } => OpJson::Tipoff {
            subject: subject.to_string(),
            case: case.clone(),
            text: text.clone(),
        },
        AccessOp::Impressions { case, delivered } => OpJson::Impressions {
            case: case.clone(),
            delivered: *delivered,
        },
        AccessOp::Ingest {
            accepted,
            duplicates,
            rejected,
        } => OpJson::Ingest {
            accepted: *accepted,
            duplicates: *duplicates,
            rejected: *rejected,
        },
        AccessOp::PolicyInstall { offers, sha256 } => OpJson::PolicyInstall {
            offers: *offers,
            sha256: sha256.clone(),
        },
        AccessOp::Read { inquiry } => OpJson::Read {
            inquiry: hex(inquiry),
        },
    }
}

fn op_of(j: OpJson, at: Timestamp) -> Result<AccessOp, String> {
    let sid = |s: &str| SubjectId::parse(s).map_err(|e| e.to_string());
    let day = |s: &str| Day::parse(s).map_err(|e| e.to_string());
    Ok(match j {
        OpJson::KeyCreate {
            id,
            sha256,
            role,
            party,
            subject,
        } => AccessOp::KeyCreate(KeyRecord {
            id,
            hash: unhex32(&sha256).ok_or("bad key hash")?,
            role: Role::parse(&role).map_err(|e| e.to_string())?,
            party,
            subject: subject.as_deref().map(sid).transpose()?,
            created: at,
            revoked: None,
        }),
        OpJson::KeyRevoke { id } => AccessOp::KeyRevoke { id },
        OpJson::ConsentGrant {
            subject,
            party,
            purpose,
            until,
        } => AccessOp::ConsentGrant {
            subject: sid(&subject)?,
            party,
            purpose,
            until: day(&until)?,
        },
        OpJson::ConsentRevoke { subject, id } => AccessOp::ConsentRevoke {
            subject: sid(&subject)?,
            id,
        },
        OpJson::DisputeFile {
            subject,
            source,
            event,
            reason,
        } => AccessOp::DisputeFile {
            subject: sid(&subject)?,
            source,
            event,
            reason,
        },
        OpJson::DisputeResolve {
            id,
            by,
            resolution,
            replacement,
            note,
        } => AccessOp::DisputeResolve {
            id,
            by,
            resolution: match (resolution.as_str(), replacement) {
                ("upheld", None) => Resolution::Upheld,
                ("deleted", None) => Resolution::Deleted,
                ("corrected", Some(replacement)) => Resolution::Corrected { replacement },
                (r, _) => return Err(format!("bad resolution `{r}`")),
            },
            note,
        },
        OpJson::Tipoff {
            subject,
            case,
            text,
        } => AccessOp::Tipoff {
            subject: sid(&subject)?,
            case,
            text,
        },
        OpJson::Impressions { case, delivered } => AccessOp::Impressions { case, delivered },
        OpJson::Ingest {
            accepted,
            duplicates,
            rejected,
        } => AccessOp::Ingest {
            accepted,
            duplicates,
            rejected,
        },
        OpJson::PolicyInstall { offers, sha256 } => AccessOp::PolicyInstall { offers, sha256 },
        OpJson::Read { inquiry } => AccessOp::Read {
            inquiry: unhex32(&inquiry).ok_or("bad inquiry digest")?,
        },
    })
}

fn inquiry_json(q: &Inquiry) -> InquiryJson {
    InquiryJson {
        at: q.at.to_string(),
        subject: q.subject.to_string(),
        role: q.role.name().into(),
        party: q.party.clone(),
        what: q.what.clone(),
        answer: q.answer.clone(),
    }
}

fn encode_inquiry(q: &Inquiry) -> Vec<u8> {
    serde_json::to_vec(&inquiry_json(q)).unwrap_or_default()
}

pub(crate) fn decode_inquiry(b: &[u8]) -> Result<Inquiry, String> {
    inquiry_of(serde_json::from_slice(b).map_err(|e| e.to_string())?)
}

fn inquiry_of(j: InquiryJson) -> Result<Inquiry, String> {
    Ok(Inquiry {
        at: Timestamp::parse(&j.at).map_err(|e| e.to_string())?,
        subject: SubjectId::parse(&j.subject).map_err(|e| e.to_string())?,
        role: if j.role == "public" {
            Role::Public
        } else {
            Role::parse(&j.role).map_err(|e| e.to_string())?
        },
        party: j.party,
        what: j.what,
        answer: j.answer,
    })
}

/// One audit record, split.
fn split(body: &[u8]) -> Option<(Link, &[u8])> {
    if body.len() < LINK {
        return None;
    }
    let seq = u64::from_le_bytes(body[0..8].try_into().ok()?);
    let prev: [u8; 32] = body[8..40].try_into().ok()?;
    let hash: [u8; 32] = body[40..72].try_into().ok()?;
    Some((Link { seq, prev, hash }, &body[LINK..]))
}

/// A decoded audit entry, as `credo audit` shows it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub seq: u64,
    pub hash: [u8; 32],
    pub at: Timestamp,
    pub actor: String,
    pub op: AccessOp,
    pub origin: Option<u64>,
}

fn decode_entry(link: Link, json: &[u8]) -> Result<AuditEntry, String> {
    let e: EntryJson = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let at = Timestamp::parse(&e.at).map_err(|e| e.to_string())?;
    Ok(AuditEntry {
        seq: link.seq,
        hash: link.hash,
        at,
        actor: e.actor,
        op: op_of(e.op, at)?,
        origin: e.origin,
    })
}

fn segment_name(m: i32) -> String {
    format!("{}.log", Day::month_label(m))
}

pub(crate) fn parse_segment(name: &str) -> Option<i32> {
    Day::parse_month_label(name.strip_suffix(".log")?)
}

fn read_head(path: &Path) -> Result<Option<(u64, [u8; 32])>, EngineError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bad = || EngineError::Meta {
                path: path.display().to_string(),
                problem: "unreadable audit head (expected `SEQ HASH`)".into(),
            };
            let line = text.trim_end_matches(['\n', ' ', '\0']);
            if line.is_empty() {
                return Ok(None);
            }
            let (seq, hash) = line.split_once(' ').ok_or_else(bad)?;
            let seq = seq.parse().map_err(|_| bad())?;
            Ok(Some((seq, unhex32(hash.trim()).ok_or_else(bad)?)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

impl Journal {
    /// Opens (creating) the journal and rebuilds the access state and the inquiries still
    /// kept on `today`, deleting segments past retention.
    pub(crate) fn open(
        dir: &Path,
        today: Day,
    ) -> Result<(Journal, AccessState, InquiryLog, JournalReport), EngineError> {
        let path = dir.join(AUDIT_FILE);
        let head_path = dir.join(HEAD_FILE);
        let mut state = AccessState::default();
        let mut chain = Chain::new(read_head(&head_path)?);
        let corrupt = |offset: u64, problem: String| StoreError::Corrupt {
            path: path.display().to_string(),
            offset,
            problem,
        };
        let (audit, recovery) = Log::open_batches(&path, |records| {
            for &credo_store::Record { at: r, body, .. } in records {
                let (link, json) =
                    split(body).ok_or_else(|| corrupt(r.offset, "short audit record".into()))?;
                chain
                    .push(link, json)
                    .map_err(|e| corrupt(r.offset, format!("{e} (run `credo audit verify`)")))?;
                let e = decode_entry(link, json).map_err(|p| corrupt(r.offset, p))?;
                state.apply_from(e.seq, e.origin, e.at, &e.op);
            }
            Ok(())
        })?;
        chain.finish().map_err(|e| EngineError::Meta {
            path: head_path.display().to_string(),
            problem: format!(
                "{e}: the audit log does not reach its recorded head (run `credo audit verify`)"
            ),
        })?;
        let (seq, prev) = chain.last();
        let head_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&head_path)
            .map_err(io(&head_path))?;
        let (inquiries, forgotten) = Self::load_inquiries(dir, today)?;
        let report = JournalReport {
            entries: seq,
            inquiries: inquiries.len(),
            forgotten_inquiries: forgotten,
            audit_recovery: recovery,
        };
        let journal = Journal {
            dir: dir.to_path_buf(),
            audit,
            head_file,
            seq,
            prev,
            segment: None,
            batch: Batch::new(),
            inquiry_batch: Batch::new(),
        };
        journal.write_head()?;
        Ok((journal, state, inquiries, report))
    }

    fn load_inquiries(dir: &Path, today: Day) -> Result<(InquiryLog, usize), EngineError> {
        let idir = dir.join(INQUIRY_DIR);
        std::fs::create_dir_all(&idir).map_err(io(&idir))?;
        let cutoff = credo_access::retention_cutoff(today);
        let mut log = InquiryLog::default();
        let mut forgotten = 0usize;
        let mut names: Vec<(i32, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&idir).map_err(io(&idir))? {
            let entry = entry.map_err(io(&idir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(m) = parse_segment(&name) {
                names.push((m, entry.path()));
            }
        }
        names.sort();
        for (m, path) in names {
            if m < cutoff.month_index() {
                // Every inquiry in it is older than the cutoff's month: delete the segment.
                let mut n = 0usize;
                Log::scan(&path, |records| {
                    n += records.len();
                    Ok(())
                })?;
                std::fs::remove_file(&path).map_err(io(&path))?;
                forgotten += n;
                continue;
            }
            let p = path.clone();
            Log::scan(&path, |records| {
                for &credo_store::Record { at: r, body, .. } in records {
                    let q = decode_inquiry(body).map_err(|problem| StoreError::Corrupt {
                        path: p.display().to_string(),
                        offset: r.offset,
                        problem,
                    })?;
                    log.add(q);
                }
                Ok(())
            })?;
        }
        forgotten += log.forget_before(cutoff);
        Ok((log, forgotten))
    }

    /// The last sequence number and hash.
    pub fn head(&self) -> (u64, [u8; 32]) {
        (self.seq, self.prev)
    }

    /// Writes `SEQ HASH` in place (fixed width, no rename: it runs after every commit).
    fn write_head(&self) -> Result<(), EngineError> {
        let line = format!("{:020} {}\n", self.seq, hex(&self.prev));
        let path = self.dir.join(HEAD_FILE);
        self.head_file
            .write_all_at(line.as_bytes(), 0)
            .map_err(io(&path))
    }

    /// Logs `pending` in order as one group commit: the audit entries and the inquiries
    /// are written and synced before this returns. Nothing is applied to any state here.
    pub fn append(&mut self, pending: Vec<Pending>) -> Result<Vec<Sealed>, EngineError> {
        self.append_from(pending.into_iter().map(|p| (p, None)).collect())
    }

    /// [`Journal::append`] of operations each with the sequence number in the cluster's
    /// access log it came from, if it did (kept in the entry as `stream`).
    pub fn append_from(
        &mut self,
        pending: Vec<(Pending, Option<u64>)>,
    ) -> Result<Vec<Sealed>, EngineError> {
        let mut out = Vec::with_capacity(pending.len());
        self.batch.clear();
        self.inquiry_batch.clear();
        let mut month = None;
        let mut json = Vec::with_capacity(256);
        let mut rec = Vec::with_capacity(LINK + 256);
        // The chain moves on only once the entries are on disk: after a failed write (a
        // full disk) the next group links to the last entry that was written.
        let (mut seq, mut prev) = (self.seq, self.prev);
        for (p, origin) in pending {
            let mut op = p.op;
            if let Some(q) = &p.inquiry {
                let bytes = encode_inquiry(q);
                op = AccessOp::Read {
                    inquiry: inquiry_digest(&bytes),
                };
                let m = q.at.day().month_index();
                if month.is_some_and(|x| x != m) {
                    // A group that spans a month boundary: finish the older month first.
                    self.flush_inquiries(month)?;
                }
                month = Some(m);
                self.inquiry_batch.push(&bytes);
            }
            json.clear();
            serde_json::to_writer(
                &mut json,
                &EntryJson {
                    at: p.at.to_string(),
                    actor: p.actor.clone(),
                    key: p.key.clone(),
                    origin,
                    op: op_json(&op),
                },
            )
            .map_err(|e| EngineError::Meta {
                path: AUDIT_FILE.into(),
                problem: e.to_string(),
            })?;
            seq += 1;
            let hash = credo_access::link(&prev, seq, &json);
            rec.clear();
            rec.extend_from_slice(&seq.to_le_bytes());
            rec.extend_from_slice(&prev);
            rec.extend_from_slice(&hash);
            rec.extend_from_slice(&json);
            self.batch.push(&rec);
            prev = hash;
            out.push(Sealed {
                seq,
                origin,
                at: p.at,
                actor: p.actor,
                op,
                inquiry: p.inquiry,
            });
        }
        self.flush_inquiries(month)?;
        if !self.batch.is_empty() {
            self.audit.commit(&mut self.batch)?;
        }
        (self.seq, self.prev) = (seq, prev);
        // The head only says how far the log reached at least (it catches a log cut
        // short). The entries are on disk already, so a head that could not be written
        // (a full disk) is a warning, not a failed append: failing here would refuse a
        // change that a restart then applies.
        if let Err(e) = self.write_head() {
            tracing::warn!(error = %e, "the audit head could not be written");
        }
        Ok(out)
    }

    fn flush_inquiries(&mut self, month: Option<i32>) -> Result<(), EngineError> {
        let Some(m) = month else { return Ok(()) };
        if self.inquiry_batch.is_empty() {
            return Ok(());
        }
        if self.segment.as_ref().is_none_or(|(sm, _)| *sm != m) {
            let idir = self.dir.join(INQUIRY_DIR);
            let path = idir.join(segment_name(m));
            let (log, _) = Log::open_batches(&path, |_| Ok(()))?;
            self.segment = Some((m, log));
            // A new month: segments whose every inquiry is past retention go, as on open.
            for entry in std::fs::read_dir(&idir).map_err(io(&idir))? {
                let entry = entry.map_err(io(&idir))?;
                if parse_segment(&entry.file_name().to_string_lossy())
                    .is_some_and(|old| old < m - credo_access::RETENTION_MONTHS)
                {
                    std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
                }
            }
        }
        if let Some((_, log)) = &mut self.segment {
            log.commit(&mut self.inquiry_batch)?;
        }
        self.inquiry_batch.clear();
        Ok(())
    }
}

/// What `credo audit verify` found.
#[derive(Debug, Clone)]
pub struct AuditVerify {
    pub entries: u64,
    pub head: Option<(u64, [u8; 32])>,
    /// The hash of the last entry that verified.
    pub last_hash: [u8; 32],
    pub torn_tail_bytes: u64,
    pub result: Result<(), ChainError>,
}

/// Reads the audit log without changing it and verifies its chain against its head.
pub fn verify_audit(dir: &Path) -> Result<AuditVerify, EngineError> {
    let path = dir.join(AUDIT_FILE);
    let head = read_head(&dir.join(HEAD_FILE))?;
    let mut chain = Chain::new(head);
    let (mut entries, mut broken, mut short) = (0u64, None, None);
    let recovery = match Log::scan(&path, |records| {
        for &credo_store::Record { at: r, body, .. } in records {
            entries += 1;
            match split(body) {
                None => short = short.or(Some(r.offset)),
                Some((l, json)) if broken.is_none() => broken = chain.push(l, json).err(),
                Some(_) => {}
            }
        }
        Ok(())
    }) {
        Ok(r) => r,
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Recovery::default()
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(offset) = short {
        return Err(EngineError::Store(StoreError::Corrupt {
            path: path.display().to_string(),
            offset,
            problem: "short audit record".into(),
        }));
    }
    let result = match broken {
        Some(e) => Err(e),
        None => chain.finish().map(|_| ()),
    };
    Ok(AuditVerify {
        entries,
        head,
        last_hash: chain.last().1,
        torn_tail_bytes: recovery.truncated_bytes,
        result,
    })
}

/// Every audit entry, decoded, in log order (for `credo audit log`).
pub fn read_audit(dir: &Path) -> Result<Vec<AuditEntry>, EngineError> {
    let path = dir.join(AUDIT_FILE);
    let mut out = Vec::new();
    Log::scan(&path, |records| {
        for &credo_store::Record { at: r, body, .. } in records {
            let bad = |problem: String| StoreError::Corrupt {
                path: path.display().to_string(),
                offset: r.offset,
                problem,
            };
            let (l, json) = split(body).ok_or_else(|| bad("short audit record".into()))?;
            out.push(decode_entry(l, json).map_err(bad)?);
        }
        Ok(())
    })?;
    Ok(out)
}

/// An access operation as the audit log writes it (one JSON object with its time), for
/// carrying it elsewhere: a cluster keeps its API keys in its key-value store this way.
pub fn op_to_json(op: &AccessOp, at: Timestamp) -> Vec<u8> {
    let j = EntryJson {
        at: at.to_string(),
        actor: String::new(),
        key: None,
        origin: None,
        op: op_json(op),
    };
    serde_json::to_vec(&j).unwrap_or_default()
}

/// Reads what [`op_to_json`] wrote.
pub fn op_from_json(json: &[u8]) -> Result<AccessOp, String> {
    let j: EntryJson = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let at = Timestamp::parse(&j.at).map_err(|e| e.to_string())?;
    op_of(j.op, at)
}

/// An operation as a cluster partition sends it through the cluster's access log: its
/// entry (time, actor, key, operation) and, for a read, the inquiry.
#[derive(Serialize, Deserialize)]
struct CarriedJson {
    entry: EntryJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inquiry: Option<InquiryJson>,
}

/// The bytes of `p` in the cluster's access log.
pub fn pending_to_json(p: &Pending) -> Vec<u8> {
    let j = CarriedJson {
        entry: EntryJson {
            at: p.at.to_string(),
            actor: p.actor.clone(),
            key: p.key.clone(),
            origin: None,
            op: op_json(&p.op),
        },
        inquiry: p.inquiry.as_ref().map(inquiry_json),
    };
    serde_json::to_vec(&j).unwrap_or_default()
}

/// Reads what [`pending_to_json`] wrote.
pub fn pending_from_json(json: &[u8]) -> Result<Pending, String> {
    let j: CarriedJson = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let at = Timestamp::parse(&j.entry.at).map_err(|e| e.to_string())?;
    Ok(Pending {
        at,
        actor: j.entry.actor,
        key: j.entry.key,
        op: op_of(j.entry.op, at)?,
        inquiry: j.inquiry.map(inquiry_of).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_calendar_months_and_round_trip() {
        let nov = Day::parse("2026-11-22").unwrap().month_index();
        assert_eq!(segment_name(nov), "2026-11.log");
        for m in [0, 11, 12, nov, nov + 40] {
            assert_eq!(parse_segment(&segment_name(m)), Some(m));
        }
        assert_eq!(parse_segment("2026-13.log"), None);
        assert_eq!(parse_segment("notes.txt"), None);
    }
}

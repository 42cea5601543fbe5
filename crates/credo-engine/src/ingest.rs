//! Ingest: JSON lines in, durable events out.
//!
//! The input is read in chunks that end at a line break. Each chunk's lines are parsed
//! in parallel (the costly part), then admitted in order on one thread (dedupe, subject
//! checks) and written to the log as one batch and synced (group commit) on a second
//! thread while the first applies it to the derived state; only once both are done is it
//! acknowledged through the progress callback.

use crate::engine::{Admit, Engine, Op};
use crate::error::EngineError;
use crate::keyset::Verdicts;
use crate::wire::{MAX_LINE, Parser, Reject};
use credo_store::{Batch, RecordRef, encode_event};
use rayon::prelude::*;
use std::io::Read;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Bytes of input per batch (one sync per batch).
    pub chunk_bytes: usize,
    /// How many line errors the report keeps (all are counted).
    pub keep_errors: usize,
    /// Who sends, when it is not the registry itself: lines under another `source`, or of
    /// kinds its role may not send (`credo_access::may_send`), are rejected as `forbidden`.
    pub sender: Option<Sender>,
}

/// A party that sends events over the API.
#[derive(Debug, Clone)]
pub struct Sender {
    pub source: String,
    pub role: credo_access::Role,
}

impl Sender {
    /// Whether this sender may send `e` (its `source` and kind), as ingest checks it.
    pub fn check(&self, e: &credo_model::Event) -> Result<(), Reject> {
        let forbidden = |message| Reject {
            code: "forbidden",
            message,
        };
        if e.source.as_str() != self.source {
            return Err(forbidden(format!(
                "`source` is `{}`; this key sends as `{}` only",
                e.source.as_str(),
                self.source
            )));
        }
        if !credo_access::may_send(self.role, credo_rules::court::is_court_event(&e.body)) {
            return Err(forbidden(format!(
                "a {} key may not send `{}` events",
                self.role.name(),
                e.body.kind()
            )));
        }
        Ok(())
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            chunk_bytes: 8 << 20,
            keep_errors: 1000,
            sender: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub file: String,
    pub line: u64,
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub lines: u64,
    pub bytes: u64,
    /// The first `keep_errors` rejections, in input order.
    pub errors: Vec<LineError>,
}

impl IngestReport {
    pub fn add(&mut self, other: IngestReport, keep: usize) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.lines += other.lines;
        self.bytes += other.bytes;
        let room = keep.saturating_sub(self.errors.len());
        self.errors.extend(other.errors.into_iter().take(room));
    }
}

/// Reported after every synced batch: everything up to `acked_line` of `file` is durable.
#[derive(Debug, Clone)]
pub struct BatchProgress<'a> {
    pub file: &'a str,
    pub acked_line: u64,
    pub bytes: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// One slice of a chunk's lines, parsed on one core: the encoded records back to back,
/// and for each accepted line its [`Op`] and where its record lies in `bytes`.
#[derive(Default)]
struct Segment {
    bytes: Vec<u8>,
    items: Vec<(u64, Op, u32, u32, u32)>,
    rejects: Vec<(u64, Reject)>,
}

/// A chunk of input cut at a line break, with the number of its first line.
struct Chunk {
    data: Vec<u8>,
    first_line: u64,
    lines: u64,
    /// Lines over the limit that ended in this chunk: (line number, length).
    long: Vec<(u64, usize)>,
}

/// How far ahead of admission the subject index is touched.
const LOOKAHEAD: usize = 16;

/// Lines per parallel task: big enough to amortise scheduling, small enough to balance.
const SEGMENT_LINES: usize = 4096;

/// Parses one slice of a chunk's lines: `(line number, start, end)` in `data`.
fn parse_segment(data: &[u8], lines: &[(u64, usize, usize)], sender: Option<&Sender>) -> Segment {
    // Both sized up front: growing `items` (an item is 128 bytes) moved each
    // segment's items about twice over, 1.6 % of ingest's CPU time.
    let mut seg = Segment {
        bytes: Vec::with_capacity(lines.len() * 96),
        items: Vec::with_capacity(lines.len()),
        rejects: Vec::new(),
    };
    let mut parser = Parser::default();
    // The whole slice checked as UTF-8 at once (a line of UTF-8 text cut at line breaks is
    // UTF-8): one SIMD pass instead of one call a line. If it is not, each line is checked
    // on its own, and the bad ones say where.
    let span = match (lines.first(), lines.last()) {
        (Some(&(_, from, _)), Some(&(_, _, to))) => simdutf8::basic::from_utf8(&data[from..to])
            .ok()
            .map(|text| (from, text)),
        _ => None,
    };
    for &(line, start, end) in lines {
        // Matched in place, not passed through `and_then`: each move of an `Event` (240
        // bytes) was a `memcpy` a line.
        let parsed = match span.and_then(|(from, text)| text.get(start - from..end - from)) {
            Some(l) => parser.parse_str(l),
            None => parser.parse(&data[start..end]),
        };
        let e = match parsed {
            Ok(e) => e,
            Err(r) => {
                seg.rejects.push((line, r));
                continue;
            }
        };
        if let Some(Err(r)) = sender.map(|s| s.check(&e)) {
            seg.rejects.push((line, r));
            continue;
        }
        let start = seg.bytes.len();
        encode_event(&e, &mut seg.bytes);
        let crc = crc32fast::hash(&seg.bytes[start..]);
        seg.items.push((
            line,
            Op::of(&e),
            start as u32,
            (seg.bytes.len() - start) as u32,
            crc,
        ));
    }
    seg
}

/// Splits a chunk into lines and parses them on all cores.
fn parse_chunk(c: &Chunk, sender: Option<&Sender>) -> Vec<Segment> {
    let mut lines: Vec<(u64, usize, usize)> = Vec::with_capacity(c.lines as usize);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', &c.data).chain(std::iter::once(c.data.len()));
    // memchr, not `slice::split` with a closure: this runs over every byte of the input.
    for (line_no, end) in (c.first_line..c.first_line + c.lines).zip(ends) {
        if start > c.data.len() {
            break;
        }
        let l = &c.data[start..end];
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if !l.iter().all(u8::is_ascii_whitespace) {
            lines.push((line_no, start, start + l.len()));
        }
        start = end + 1;
    }
    lines
        .par_chunks(SEGMENT_LINES)
        .map(|l| parse_segment(&c.data, l, sender))
        .collect()
}

/// Reads input into chunks that end at a line break, skipping over-long lines.
struct Chunker<R> {
    input: R,
    chunk: usize,
    buf: Vec<u8>,
    next_line: u64,
    skipping_long: Option<u64>,
    eof: bool,
    /// Buffers of chunks already committed, for reuse.
    spare: Vec<Vec<u8>>,
}

impl<R: Read> Chunker<R> {
    fn next(&mut self) -> std::io::Result<Option<Chunk>> {
        let mut want = self.chunk;
        let mut long = Vec::new();
        loop {
            if self.buf.len() < want && !self.eof {
                // read_to_end on a Take fills spare capacity without zeroing it first.
                let need = want - self.buf.len();
                self.buf.reserve(need);
                let n = (&mut self.input)
                    .take(need as u64)
                    .read_to_end(&mut self.buf)?;
                self.eof = n < need;
            }
            let cut = if self.eof {
                self.buf.len()
            } else {
                memchr::memrchr(b'\n', &self.buf).map_or(0, |p| p + 1)
            };
            if cut == 0 {
                if self.eof {
                    if let Some(len) = self.skipping_long.take() {
                        self.next_line += 1;
                        long.push((self.next_line, len as usize));
                        return Ok(Some(Chunk {
                            data: Vec::new(),
                            first_line: self.next_line + 1,
                            lines: 0,
                            long,
                        }));
                    }
                    return Ok(None);
                }
                if self.buf.len() <= MAX_LINE && self.skipping_long.is_none() {
                    // No whole line yet: read more, up to the longest line allowed.
                    want = (self.buf.len() * 2).clamp(want, MAX_LINE + 1);
                    continue;
                }
                // More than the limit without a line break: part of an over-long line.
                self.skipping_long = Some(self.skipping_long.unwrap_or(0) + self.buf.len() as u64);
                self.buf.clear();
                continue;
            }
            // Hand the filled buffer to the chunk and keep only the tail after the cut: no
            // copy of the chunk, and the spare buffer's pages are reused.
            let mut data = std::mem::replace(&mut self.buf, self.spare.pop().unwrap_or_default());
            self.buf.clear();
            self.buf.extend_from_slice(&data[cut..]);
            data.truncate(cut);
            if let Some(len) = self.skipping_long.take() {
                // The over-long line ends at the first line break.
                let end = memchr::memchr(b'\n', &data).map_or(data.len(), |p| p + 1);
                self.next_line += 1;
                long.push((self.next_line, len as usize + end));
                data.drain(..end);
            }
            let mut lines = memchr::memchr_iter(b'\n', &data).count() as u64;
            if data.last().is_some_and(|&b| b != b'\n') {
                lines += 1; // a last line without a line break, at the end of input
            }
            let first_line = self.next_line + 1;
            self.next_line += lines;
            return Ok(Some(Chunk {
                data,
                first_line,
                lines,
                long,
            }));
        }
    }
}

impl Engine {
    /// Ingests JSON lines from `input`. Bad lines are rejected one by one; a failure to
    /// write or sync the log is an error, and nothing after the last acknowledged batch
    /// counts as ingested.
    ///
    /// After a failed write, the next ingest first rebuilds the state from the log
    /// ([`Engine::recover`]), so a server resumes by itself once the disk has room.
    ///
    /// Pipelined on two levels: while one thread admits, logs and applies chunk *n*, the
    /// other cores parse chunk *n + 1*.
    pub fn ingest(
        &mut self,
        file: &str,
        input: impl Read + Send,
        opts: &IngestOptions,
        progress: &mut dyn FnMut(&BatchProgress<'_>),
    ) -> Result<IngestReport, EngineError> {
        self.recover()?;
        let mut chunker = Chunker {
            input,
            chunk: opts.chunk_bytes.max(1),
            buf: Vec::new(),
            next_line: 0,
            skipping_long: None,
            eof: false,
            spare: Vec::new(),
        };
        let io_err = |e| EngineError::Io {
            path: file.to_string(),
            source: e,
        };
        let mut report = IngestReport::default();
        let mut batch = Batch::new();
        let mut verdicts = Verdicts::default();
        let mut current: Option<(Chunk, Vec<Segment>)> = match chunker.next().map_err(io_err)? {
            Some(c) => {
                let segs = parse_chunk(&c, opts.sender.as_ref());
                Some((c, segs))
            }
            None => None,
        };
        let (mut parse_time, mut commit_time) =
            (std::time::Duration::ZERO, std::time::Duration::ZERO);
        while let Some((chunk, segs)) = current.take() {
            // Read and parse the next chunk on the other cores while this one commits.
            let (parsed_next, done) = rayon::join(
                || {
                    let t = std::time::Instant::now();
                    let r = chunker.next().map(|next| {
                        next.map(|c| {
                            let segs = parse_chunk(&c, opts.sender.as_ref());
                            (c, segs)
                        })
                    });
                    (r, t.elapsed())
                },
                || {
                    let t = std::time::Instant::now();
                    let r = self.commit_chunk(file, &chunk, segs, &mut batch, &mut verdicts, opts);
                    (r, t.elapsed())
                },
            );
            let ((parsed_next, tp), (done, tc)) = (parsed_next, done);
            parse_time += tp;
            commit_time += tc;
            tracing::debug!(
                commit_us = tc.as_micros() as u64,
                parse_us = tp.as_micros() as u64,
                "chunk"
            );
            let part = done?;
            let parsed_next = parsed_next.map_err(io_err)?;
            report.add(part, opts.keep_errors);
            progress(&BatchProgress {
                file,
                acked_line: chunk.first_line + chunk.lines - 1,
                bytes: report.bytes,
                accepted: report.accepted,
                duplicates: report.duplicates,
                rejected: report.rejected,
            });
            chunker.spare.push(chunk.data);
            current = parsed_next;
        }
        tracing::debug!(
            file,
            parse_s = parse_time.as_secs_f64(),
            commit_s = commit_time.as_secs_f64(),
            "ingest pipeline"
        );
        let t = std::time::Instant::now();
        self.refresh_derived()?;
        tracing::debug!(
            refresh_s = t.elapsed().as_secs_f64(),
            "derived indexes refreshed"
        );
        Ok(report)
    }

    /// After a batch was admitted and its write or sync failed (a full disk, a batch too
    /// large): the dedupe set, and the state if the batch was applied, are ahead of the disk
    /// with events that were never acknowledged. The engine rebuilds both from the log at
    /// once, so that no read sees them and a retry does not count them as duplicates. If
    /// that fails too, it stays failed and refuses further work until the next ingest's
    /// `recover` succeeds, or it is reopened. Returns `e`.
    fn failed_commit(&mut self, e: EngineError) -> EngineError {
        self.failed = true;
        if let Err(again) = self.recover() {
            tracing::warn!(error = %again, "rebuilding the state after a failed write failed");
        }
        e
    }

    /// Admits a parsed chunk in line order, logs and syncs it as one batch, then applies it.
    fn commit_chunk(
        &mut self,
        file: &str,
        chunk: &Chunk,
        segs: Vec<Segment>,
        batch: &mut Batch,
        verdicts: &mut Verdicts,
        opts: &IngestOptions,
    ) -> Result<IngestReport, EngineError> {
        // Never entered while `failed`: `ingest` recovers first, and returns at a failure.
        let mut part = IngestReport {
            lines: chunk.lines + chunk.long.len() as u64,
            bytes: chunk.data.len() as u64,
            ..Default::default()
        };
        let mut errors: Vec<(u64, &'static str, String)> = Vec::new();
        for &(line, len) in &chunk.long {
            errors.push((
                line,
                "line_too_long",
                format!("line has {len} bytes; the limit is {MAX_LINE}"),
            ));
        }
        let t0 = std::time::Instant::now();
        // (subject, segment, item, batch position); sized up front, as growing it copied
        // it about twice over on this (the committing) thread.
        let mut admitted: Vec<(u32, usize, usize, u64)> =
            Vec::with_capacity(segs.iter().map(|s| s.items.len()).sum());
        // The dedupe set's verdicts for the whole chunk first, probed in the table's
        // order, then taken in line order (see `Verdicts`).
        verdicts.probe(
            &mut self.core.seen,
            segs.iter()
                .flat_map(|s| s.items.iter().map(|(_, op, _, _, crc)| (op.key, *crc))),
        );
        let mut i = 0;
        for (si, seg) in segs.iter().enumerate() {
            for (line, r) in &seg.rejects {
                errors.push((*line, r.code, r.message.clone()));
            }
            for (ii, (line, op, start, len, crc)) in seg.items.iter().enumerate() {
                // Load the subject index's slot, then the key it names, for events a
                // little ahead: the loads are independent of the work in between, so
                // their cache misses overlap with it instead of stalling admission.
                if let Some((_, ahead, ..)) = seg.items.get(ii + LOOKAHEAD) {
                    self.core.warm(ahead);
                }
                if let Some((_, near, ..)) = seg.items.get(ii + LOOKAHEAD / 2) {
                    self.core.warm_key(near);
                }
                // Admission asks for the verdict only once the subject checks pass.
                let mut judged = false;
                let admit = self.core.admit(op, |seen| {
                    judged = true;
                    verdicts.judge(seen, i)
                });
                if !judged {
                    verdicts.withdraw(&mut self.core.seen, i);
                }
                i += 1;
                match admit {
                    Ok(Admit::New(s)) => {
                        let body = &seg.bytes[*start as usize..(*start + *len) as usize];
                        admitted.push((s, si, ii, batch.push_checked(body, *crc)));
                    }
                    Ok(Admit::Duplicate) => part.duplicates += 1,
                    Err(r) => errors.push((*line, r.code, r.message)),
                }
            }
        }
        let t1 = std::time::Instant::now();
        // The batch's place in the log is reserved here; the copy into the file and the
        // sync run on their own thread while this one applies the batch to the derived
        // state, and nothing is acknowledged until both are done. A batch too large for
        // the log fails here, before anything is applied.
        let (start, pending) = match self.log.write(batch) {
            Ok(w) => w,
            Err(e) => return Err(self.failed_commit(e.into())),
        };
        let core = &mut self.core;
        let synced = std::thread::scope(|sc| {
            let sync = sc.spawn(move || pending.sync());
            for &(s, si, ii, pos) in &admitted {
                let (_, op, _, len, _) = &segs[si].items[ii];
                core.apply(
                    s,
                    op,
                    RecordRef {
                        offset: start + pos,
                        len: *len,
                    },
                );
            }
            let waited = std::time::Instant::now();
            (sync.join(), waited.elapsed())
        });
        let (synced, sync_wait) = synced;
        let failure = match synced {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(EngineError::from(e)),
            Err(_) => Some(EngineError::Failed),
        };
        if let Some(e) = failure {
            return Err(self.failed_commit(e));
        }
        tracing::trace!(
            admit_us = (t1 - t0).as_micros() as u64,
            apply_and_write_us = t1.elapsed().as_micros() as u64,
            // How long the applied batch waited for its write and sync: on this VM's disk
            // about 0.1 ms a batch (2 ms while the disk writes back other work), so the
            // disk is not what limits ingest.
            sync_wait_us = sync_wait.as_micros() as u64,
            "commit"
        );
        part.accepted = admitted.len() as u64;
        part.rejected = errors.len() as u64;
        errors.sort_by_key(|e| e.0);
        part.errors = errors
            .into_iter()
            .take(opts.keep_errors)
            .map(|(line, code, message)| LineError {
                file: file.to_string(),
                line,
                code,
                message,
            })
            .collect();
        Ok(part)
    }
}

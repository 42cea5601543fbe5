//! Ingest: JSON lines in, durable events out.
//!
//! The input is read in chunks that end at a line break. Each chunk's lines are parsed
//! in parallel (the costly part), then admitted in order on one thread (dedupe, subject
//! checks), written to the log as one batch and synced (group commit), and only then
//! applied to the derived state and acknowledged through the progress callback.

use crate::engine::{Admit, Engine, dedupe_key};
use crate::error::EngineError;
use crate::wire::{MAX_LINE, Reject, parse_line};
use credo_model::Event;
use credo_store::{Batch, RecordRef, encode_event};
use rayon::prelude::*;
use std::io::Read;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Bytes of input per batch (one sync per batch).
    pub chunk_bytes: usize,
    /// How many line errors the report keeps (all are counted).
    pub keep_errors: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            chunk_bytes: 8 << 20,
            keep_errors: 1000,
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

struct Parsed {
    line: u64,
    result: Result<(Event, u128), Reject>,
}

impl Engine {
    /// Ingests JSON lines from `input`. Bad lines are rejected one by one; a failure to
    /// write or sync the log is an error, and nothing after the last acknowledged batch
    /// counts as ingested.
    pub fn ingest(
        &mut self,
        file: &str,
        mut input: impl Read,
        opts: &IngestOptions,
        progress: &mut dyn FnMut(&BatchProgress<'_>),
    ) -> Result<IngestReport, EngineError> {
        let chunk = opts.chunk_bytes.max(1);
        let mut want = chunk;
        let mut report = IngestReport::default();
        let mut buf: Vec<u8> = Vec::with_capacity(chunk);
        let mut line_no: u64 = 0;
        let mut skipping_long: Option<u64> = None; // a line over the limit, being skipped: its length so far
        let mut batch = Batch::new();
        let mut scratch = Vec::with_capacity(256);
        let mut eof = false;
        while !eof {
            // Fill the buffer.
            while buf.len() < want {
                let start = buf.len();
                buf.resize(want, 0);
                let n = read_some(&mut input, &mut buf[start..]).map_err(|e| EngineError::Io {
                    path: file.to_string(),
                    source: e,
                })?;
                buf.truncate(start + n);
                if n == 0 {
                    eof = true;
                    break;
                }
            }
            let cut = if eof {
                buf.len()
            } else {
                memchr::memrchr(b'\n', &buf).map_or(0, |p| p + 1)
            };
            let mut lines: Vec<(u64, &[u8])> = Vec::new();
            let mut long_rejects: Vec<(u64, usize)> = Vec::new();
            let mut rest: &[u8] = &buf[..cut];
            if cut == 0 {
                if eof {
                    break;
                }
                if buf.len() <= MAX_LINE && skipping_long.is_none() {
                    // No whole line yet: read more, up to the longest line allowed.
                    want = (buf.len() * 2).clamp(want, MAX_LINE + 1);
                    continue;
                }
                // More than the limit without a line break: part of an over-long line.
                let len = skipping_long.unwrap_or(0) + buf.len() as u64;
                skipping_long = Some(len);
                report.bytes += buf.len() as u64;
                buf.clear();
                continue;
            }
            if let Some(len) = skipping_long.take() {
                // The over-long line ends at the first line break.
                let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1);
                line_no += 1;
                long_rejects.push((line_no, len as usize + end));
                rest = &rest[end..];
            }
            while !rest.is_empty() {
                let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                let mut l = &rest[..end];
                if l.last() == Some(&b'\r') {
                    l = &l[..l.len() - 1];
                }
                line_no += 1;
                if !l.iter().all(u8::is_ascii_whitespace) {
                    lines.push((line_no, l));
                }
                rest = &rest[(end + 1).min(rest.len())..];
            }
            let parsed: Vec<Parsed> = lines
                .par_iter()
                .with_min_len(256)
                .map(|&(line, l)| Parsed {
                    line,
                    result: parse_line(l).map(|e| {
                        let k = dedupe_key(&e);
                        (e, k)
                    }),
                })
                .collect();
            let mut part = IngestReport {
                lines: line_no - report.lines,
                bytes: cut as u64,
                ..Default::default()
            };
            for (line, len) in long_rejects {
                part.rejected += 1;
                part.errors.push(LineError {
                    file: file.to_string(),
                    line,
                    code: "line_too_long",
                    message: format!("line has {len} bytes; the limit is {MAX_LINE}"),
                });
            }
            let mut pending: Vec<(u32, Event, u64, u32)> = Vec::with_capacity(parsed.len());
            for p in parsed {
                let admitted = p
                    .result
                    .and_then(|(e, key)| self.core.admit(&e, key).map(|a| (a, e)));
                match admitted {
                    Ok((Admit::New(i), e)) => {
                        scratch.clear();
                        encode_event(&e, &mut scratch);
                        let pos = batch.push(&scratch);
                        pending.push((i, e, pos, scratch.len() as u32));
                    }
                    Ok((Admit::Duplicate, _)) => part.duplicates += 1,
                    Err(r) => {
                        part.rejected += 1;
                        if part.errors.len() < opts.keep_errors {
                            part.errors.push(LineError {
                                file: file.to_string(),
                                line: p.line,
                                code: r.code,
                                message: r.message,
                            });
                        }
                    }
                }
            }
            let start = self.log.commit(&mut batch)?;
            part.accepted = pending.len() as u64;
            for (i, e, pos, len) in &pending {
                self.core.apply(
                    *i,
                    e,
                    RecordRef {
                        offset: start + pos,
                        len: *len,
                    },
                );
            }
            report.add(part, opts.keep_errors);
            progress(&BatchProgress {
                file,
                acked_line: line_no,
                bytes: report.bytes,
                accepted: report.accepted,
                duplicates: report.duplicates,
                rejected: report.rejected,
            });
            buf.drain(..cut);
            want = chunk;
        }
        if let Some(len) = skipping_long {
            line_no += 1;
            report.rejected += 1;
            report.lines = line_no;
            if report.errors.len() < opts.keep_errors {
                report.errors.push(LineError {
                    file: file.to_string(),
                    line: line_no,
                    code: "line_too_long",
                    message: format!("line has {len} bytes; the limit is {MAX_LINE}"),
                });
            }
        }
        Ok(report)
    }
}

fn read_some(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

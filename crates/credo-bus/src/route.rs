//! JSON lines to partitions: each line is checked by the engine's own parser (so a line
//! the nodes would refuse is refused here, with the same code and its line number) and
//! goes, as sent, to the partition of its `subject`; a contact also goes to the partition
//! of its `other`, when that is another one.

use credo_cluster::Partitioning;
use std::collections::BTreeMap;

/// A refused line: its number (from 1), the engine's rejection code and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: u64,
    pub code: &'static str,
    pub message: String,
}

/// The lines of one input, grouped by partition in input order.
#[derive(Debug, Default)]
pub struct Routed {
    /// Per partition, its lines, each ending in `\n`.
    pub parts: BTreeMap<u32, Vec<u8>>,
    /// How many lines went to partitions.
    pub routed: u64,
    pub refused: Vec<Refused>,
}

/// Routes `input` (JSON lines; a last line without `\n` counts, blank lines are skipped).
pub fn route(partitioning: Partitioning, input: &[u8]) -> Routed {
    route_as(partitioning, input, None)
}

/// [`route`] for a sender over the API: a line it may not send (another `source`, or a
/// kind its role may not send) is refused as `forbidden`, as a single machine's ingest
/// refuses it.
pub fn route_as(
    partitioning: Partitioning,
    input: &[u8],
    sender: Option<&credo_engine::Sender>,
) -> Routed {
    let mut out = Routed::default();
    let mut parser = credo_engine::wire::Parser::default();
    for (i, line) in input.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parser
            .parse(line)
            .and_then(|e| sender.map_or(Ok(()), |s| s.check(&e)).map(|()| e))
        {
            Ok(e) => {
                let home = partitioning.of(e.subject);
                let part = out.parts.entry(home).or_default();
                part.extend_from_slice(line);
                part.push(b'\n');
                out.routed += 1;
                // A contact counts for both ends: the other end's partition gets the
                // same line too (its engine keeps it as a half-edge).
                if let credo_model::EventBody::Contact { other, .. } = &e.body {
                    let there = partitioning.of(*other);
                    if there != home {
                        let part = out.parts.entry(there).or_default();
                        part.extend_from_slice(line);
                        part.push(b'\n');
                    }
                }
            }
            Err(r) => out.refused.push(Refused {
                line: i as u64 + 1,
                code: r.code,
                message: r.message,
            }),
        }
    }
    out
}

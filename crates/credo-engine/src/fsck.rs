//! `credo fsck`: an offline check of everything in a data folder, read-only and without
//! the folder's lock. Unlike opening, it does not stop at the first damage: each log is
//! read to its end, every damaged stretch is named by file and byte range, and the valid
//! data on either side is counted.

use crate::access::{AUDIT_FILE, INQUIRY_DIR, decode_inquiry, parse_segment, verify_audit};
use crate::engine::{LOG_FILE, META_FILE, dedupe_key};
use crate::error::{EngineError, io};
use credo_store::{Damage, Log, decode_event};
use std::path::Path;

/// One file's findings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileCheck {
    pub path: String,
    /// Records (or entries) that verified; `None` for a settings file.
    pub records: Option<u64>,
    /// Damaged stretches with valid data after them: a normal open refuses these.
    pub damage: Vec<Damage>,
    /// `(offset, bytes)` of a torn last batch, which the next open truncates (a crash
    /// during a write; never acknowledged).
    pub torn_tail: Option<(u64, u64)>,
    /// Other problems: records that do not decode, events logged twice, a broken hash
    /// chain, a file that does not parse. Each names where.
    pub problems: Vec<String>,
}

impl FileCheck {
    fn new(path: &Path) -> FileCheck {
        FileCheck {
            path: path.display().to_string(),
            ..FileCheck::default()
        }
    }

    /// Whether the file is sound (a torn tail is: it is recovered on open).
    pub fn ok(&self) -> bool {
        self.damage.is_empty() && self.problems.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fsck {
    pub files: Vec<FileCheck>,
}

impl Fsck {
    pub fn ok(&self) -> bool {
        self.files.iter().all(FileCheck::ok)
    }
}

/// At most this many problems are listed per file (all are counted in `records`).
const MAX_LISTED: usize = 20;

fn note(f: &mut FileCheck, problem: String) {
    if f.problems.len() < MAX_LISTED {
        f.problems.push(problem);
    } else if f.problems.len() == MAX_LISTED {
        f.problems.push("… more problems not listed".into());
    }
}

/// A log file read to its end: every record shown to `check_record` (which returns a
/// problem, if any), damage and a torn tail noted.
fn check_log(
    path: &Path,
    mut check_record: impl FnMut(u64, &[u8]) -> Option<String>,
) -> Result<FileCheck, EngineError> {
    let mut f = FileCheck::new(path);
    let mut problems = Vec::new();
    let c = Log::check(path, |records| {
        for &credo_store::Record { at: r, body, .. } in records {
            problems.extend(check_record(r.offset, body));
        }
    })?;
    for p in problems {
        note(&mut f, p);
    }
    f.records = Some(c.records);
    f.damage = c.damage;
    f.torn_tail = c.torn_tail;
    Ok(f)
}

/// Checks the data folder at `dir`: the event log (every batch and record checksum, every
/// record decodes, no event logged twice), the audit log (its hash chain against its
/// head), the inquiry segments, and the folder's settings files. `score_range` checks
/// the policy file's thresholds.
pub fn fsck(dir: &Path, score_range: (u16, u16)) -> Result<Fsck, EngineError> {
    if !dir.is_dir() {
        return Err(EngineError::Meta {
            path: dir.display().to_string(),
            problem: "no such data folder".into(),
        });
    }
    let mut out = Fsck::default();

    let path = dir.join(LOG_FILE);
    if path.exists() {
        let mut seen = rustc_hash::FxHashMap::<u128, u64>::default();
        let f = check_log(&path, |offset, body| match decode_event(body) {
            Ok(e) => seen.insert(dedupe_key(&e), offset).map(|first| {
                format!(
                    "byte {offset}: event {:?} from {:?} is logged again (first at byte {first})",
                    e.id, e.source
                )
            }),
            Err(e) => Some(format!("byte {offset}: record does not decode: {e}")),
        })?;
        out.files.push(f);
    }

    let path = dir.join(AUDIT_FILE);
    if path.exists() {
        let mut f = FileCheck::new(&path);
        // The chain first (it stops at damage), then the bytes (which do not).
        match verify_audit(dir) {
            Ok(v) => {
                f.records = Some(v.entries);
                if let Err(e) = v.result {
                    note(&mut f, format!("hash chain broken: {e}"));
                }
            }
            Err(EngineError::Store(credo_store::StoreError::Corrupt { .. })) => {}
            Err(e) => note(&mut f, e.to_string()),
        }
        let c = Log::check(&path, |_| {})?;
        f.damage = c.damage;
        f.torn_tail = c.torn_tail;
        out.files.push(f);
    }

    let idir = dir.join(INQUIRY_DIR);
    if idir.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(&idir)
            .map_err(io(&idir))?
            .filter_map(Result::ok)
            .filter(|e| parse_segment(&e.file_name().to_string_lossy()).is_some())
            .map(|e| e.path())
            .collect();
        names.sort();
        for path in names {
            let f = check_log(&path, |offset, body| {
                decode_inquiry(body)
                    .err()
                    .map(|p| format!("byte {offset}: inquiry does not decode: {p}"))
            })?;
            out.files.push(f);
        }
    }

    // Settings: each must parse as the engine would read it.
    let path = dir.join(META_FILE);
    if path.exists() {
        let mut f = FileCheck::new(&path);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Err(e) = crate::engine::parse_meta(&text) {
                    note(&mut f, e);
                }
            }
            Err(e) => note(&mut f, e.to_string()),
        }
        out.files.push(f);
    }
    let path = dir.join(crate::court::POLICY_FILE);
    if path.exists() {
        let mut f = FileCheck::new(&path);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Err(e) =
                    credo_rules::PolicySet::parse(&path.display().to_string(), &text, score_range)
                {
                    note(&mut f, e.to_string());
                }
            }
            Err(e) => note(&mut f, e.to_string()),
        }
        out.files.push(f);
    }
    let path = dir.join(crate::calls::COURTS_FILE);
    if path.exists() {
        let mut f = FileCheck::new(&path);
        if let Err(e) = crate::calls::load_courts(dir) {
            note(&mut f, e.to_string());
        }
        out.files.push(f);
    }
    Ok(out)
}

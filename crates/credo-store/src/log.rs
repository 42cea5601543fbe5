use crate::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub const FILE_MAGIC: &[u8; 8] = b"CREDOLOG";
pub const FORMAT_VERSION: u32 = 1;
pub const FILE_HEADER: u64 = 16;
pub const BATCH_MAGIC: u32 = 0x4244_5243; // "CRDB" little-endian
pub const BATCH_HEADER: usize = 24;
pub const RECORD_HEADER: usize = 8;
const MAX_BATCH: usize = 1 << 30;

/// What opening the log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub batches: u64,
    pub records: u64,
    /// Bytes cut from the end because the last batch was torn by a crash.
    pub truncated_bytes: u64,
    /// The byte offset where the torn batch began, if there was one.
    pub truncated_at: Option<u64>,
}

/// Where a record's body lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    pub offset: u64,
    pub len: u32,
}

/// A checked record as a read of the log hands it over: where it lies, its CRC-32 (as
/// stored, and verified against the body), and its body.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub at: RecordRef,
    pub crc: u32,
    pub body: &'a [u8],
}

/// An append-only, checksummed, group-committed log.
pub struct Log {
    file: File,
    path: PathBuf,
    end: u64,
    /// The same file opened with `O_DIRECT`, for large batches; `None` where the file
    /// system refuses it (tmpfs) or once a direct write was refused.
    direct: Option<Direct>,
}

/// Large batches go to the disk with `O_DIRECT`, past the page cache.
///
/// Why: a bulk ingest writes hundreds of megabytes of log, and through the page cache every
/// page of it is memory the kernel must find, zero and copy into. On a virtual machine that
/// returns freed memory to its host (free page reporting, as here), that memory is fresh
/// from the host each time: writing 400 MB through the cache measured 0.3 to 2.7 s, and
/// with `O_DIRECT` 0.2 to 0.3 s with almost no CPU (BENCHMARKS.md, durable ingest).
///
/// `O_DIRECT` needs the file offset, the length and the memory to be block-aligned. The
/// log's format has no alignment of its own, so a direct batch is framed by *filler
/// batches*: batches of zero records whose payload is zeros. One before it (written
/// through the cache and synced first) moves the end to a block boundary, one after it
/// ends the write on one. Every reader of the log takes a batch of zero records as valid
/// and empty; recovery's test of a torn tail (no batch *with records* follows) passes
/// over them, so a crash that kept a trailing filler's block and not its batch's is still
/// a torn tail.
struct Direct {
    file: File,
    buf: Aligned,
    refused: bool,
}

/// Batches smaller than this are written through the page cache: padding a small commit
/// (a server's few events) to a block would multiply its size.
const DIRECT_MIN: usize = 256 << 10;
const BLOCK: u64 = 4096;

/// A block-aligned byte buffer, kept between batches (so its memory stays mapped).
#[derive(Default)]
struct Aligned {
    buf: Vec<u8>,
    off: usize,
}

impl Aligned {
    /// `len` bytes starting at a block boundary.
    fn get(&mut self, len: usize) -> &mut [u8] {
        if self.buf.len() < self.off + len {
            self.buf = vec![0u8; len + len / 4 + BLOCK as usize];
            // Below BLOCK for a byte pointer, so the slice below is in bounds.
            self.off = self.buf.as_ptr().align_offset(BLOCK as usize);
        }
        &mut self.buf[self.off..self.off + len]
    }
}

/// Bytes of filler from `at` to the next block boundary: none if `at` is on one, else at
/// least a batch header's worth (a filler is a whole batch).
fn filler_len(at: u64) -> u64 {
    match at % BLOCK {
        0 => 0,
        r if BLOCK - r < BATCH_HEADER as u64 => 2 * BLOCK - r,
        r => BLOCK - r,
    }
}

/// Writes a filler batch over all of `out`: a batch of zero records with a payload of
/// zeros. `out` is at least a batch header long.
fn write_filler(out: &mut [u8]) {
    out.fill(0);
    let h = batch_header(0, &out[BATCH_HEADER..]);
    out[..BATCH_HEADER].copy_from_slice(&h);
}

/// The header of a batch of `count` records whose payload is `payload`.
fn batch_header(count: u32, payload: &[u8]) -> [u8; BATCH_HEADER] {
    let mut h = [0u8; BATCH_HEADER];
    h[0..4].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&count.to_le_bytes());
    h[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    // bytes 16..20 are reserved (zero)
    let hcrc = crc32fast::hash(&h[..20]);
    h[20..24].copy_from_slice(&hcrc.to_le_bytes());
    h
}

/// A batch on its way to the disk: sealed, written and synced by [`PendingSync::sync`].
///
/// The write is deferred to `sync` so that the caller can run it on another thread: ingest
/// applies the batch to its in-memory state while the write and the `fdatasync` run
/// beside it (the copy into the page cache alone was a tenth of ingest's CPU time, on the
/// one thread that admits and applies).
pub struct PendingSync<'a> {
    file: &'a File,
    path: &'a Path,
    start: u64,
    batch: &'a mut Batch,
    /// For a direct write: where the leading filler starts, its length, and the trailing
    /// filler's length.
    direct: Option<(&'a mut Direct, u64, u64, u64)>,
}

impl PendingSync<'_> {
    /// Writes the batch (if it has records) and makes everything written so far durable.
    /// The batch is cleared, whether or not this succeeds.
    pub fn sync(mut self) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            let written = self.write();
            self.batch.clear();
            written?;
        }
        self.file.sync_data().map_err(io(self.path))
    }

    fn write(&mut self) -> Result<(), StoreError> {
        let bytes = self.batch.seal();
        let Some((direct, lead_at, lead, tail)) = self.direct.take() else {
            return self
                .file
                .write_all_at(bytes, self.start)
                .map_err(io(self.path));
        };
        if lead > 0 {
            // Written and synced before the batch: were the batch's blocks on the disk and
            // this filler not, a crash would leave a gap *before* a whole batch, which
            // recovery must call damage, not a torn tail.
            let mut filler = vec![0u8; lead as usize];
            write_filler(&mut filler);
            self.file
                .write_all_at(&filler, lead_at)
                .map_err(io(self.path))?;
            self.file.sync_data().map_err(io(self.path))?;
        }
        let n = bytes.len();
        let out = direct.buf.get(n + tail as usize);
        out[..n].copy_from_slice(bytes);
        write_filler(&mut out[n..]);
        match direct.file.write_all_at(out, self.start) {
            Ok(()) => Ok(()),
            // The file system took the `O_DIRECT` open but not the write (its block is
            // larger than ours, say): the same bytes through the cache, and so from now on.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                direct.refused = true;
                self.file
                    .write_all_at(out, self.start)
                    .map_err(io(self.path))
            }
            Err(e) => Err(io(self.path)(e)),
        }
    }
}

/// Records gathered for one commit.
#[derive(Default)]
pub struct Batch {
    buf: Vec<u8>,
    count: u32,
}

impl Batch {
    pub fn new() -> Batch {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.resize(BATCH_HEADER, 0);
        Batch { buf, count: 0 }
    }

    /// Adds a record; returns its body's position relative to the batch start.
    pub fn push(&mut self, body: &[u8]) -> u64 {
        self.push_checked(body, crc32fast::hash(body))
    }

    /// [`Batch::push`] with the body's CRC-32 computed by the caller (ingest computes it
    /// on all cores while parsing). A wrong CRC makes the record read as damaged.
    pub fn push_checked(&mut self, body: &[u8], crc: u32) -> u64 {
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&crc.to_le_bytes());
        let at = self.buf.len() as u64;
        self.buf.extend_from_slice(body);
        self.count += 1;
        at
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn clear(&mut self) {
        self.buf.truncate(BATCH_HEADER);
        self.count = 0;
    }

    /// Writes the header over the batch's first bytes; the batch's size was checked by
    /// [`Log::write`], which lends the batch to the [`PendingSync`] that seals it.
    fn seal(&mut self) -> &[u8] {
        let h = batch_header(self.count, &self.buf[BATCH_HEADER..]);
        self.buf[..BATCH_HEADER].copy_from_slice(&h);
        &self.buf
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

enum Scan {
    Batch { count: u32, payload: Vec<u8> },
    End,
    Torn(&'static str),
}

impl Log {
    /// Opens (or creates) the log, checks every batch, and truncates a torn tail.
    /// `visit` sees every record in order: its position and its body.
    pub fn open(
        path: &Path,
        mut visit: impl FnMut(RecordRef, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(Log, Recovery), StoreError> {
        Self::open_batches(path, |records| {
            for r in records {
                visit(r.at, r.body)?;
            }
            Ok(())
        })
    }

    /// [`Log::open`], handing over each batch's checked records at once, so that the
    /// caller can decode them on several cores and still apply them in order.
    pub fn open_batches(
        path: &Path,
        mut visit: impl FnMut(&[Record<'_>]) -> Result<(), StoreError>,
    ) -> Result<(Log, Recovery), StoreError> {
        let err = io(path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(&err)?;
        let size = file.metadata().map_err(&err)?.len();
        if size < FILE_HEADER {
            // New, or a crash before the header was synced: start afresh only if nothing else is there.
            let mut head = vec![0u8; size as usize];
            file.read_exact(&mut head).map_err(&err)?;
            if !FILE_MAGIC.starts_with(&head[..head.len().min(8)]) {
                return Err(StoreError::NotALog {
                    path: path.display().to_string(),
                });
            }
            let mut h = [0u8; FILE_HEADER as usize];
            h[..8].copy_from_slice(FILE_MAGIC);
            h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
            file.set_len(0).map_err(&err)?;
            file.write_all_at(&h, 0).map_err(&err)?;
            file.sync_all().map_err(&err)?;
            sync_dir(path)?;
            let log = Log {
                file,
                path: path.to_path_buf(),
                end: FILE_HEADER,
                direct: open_direct(path),
            };
            return Ok((log, Recovery::default()));
        }
        let (rec, pos) = Self::walk(&mut file, path, size, &mut visit)?;
        if rec.truncated_at.is_some() {
            file.set_len(pos).map_err(&err)?;
            file.sync_all().map_err(&err)?;
        }
        Ok((
            Log {
                file,
                path: path.to_path_buf(),
                end: pos,
                direct: open_direct(path),
            },
            rec,
        ))
    }

    /// Reads the log without changing it: every valid batch is shown to `visit`, and a torn
    /// tail is reported in the [`Recovery`] but left in place. For offline checks.
    pub fn scan(
        path: &Path,
        mut visit: impl FnMut(&[Record<'_>]) -> Result<(), StoreError>,
    ) -> Result<Recovery, StoreError> {
        let err = io(path);
        let mut file = File::open(path).map_err(&err)?;
        let size = file.metadata().map_err(&err)?.len();
        if size < FILE_HEADER {
            return Ok(Recovery::default());
        }
        Ok(Self::walk(&mut file, path, size, &mut visit)?.0)
    }

    /// Checks the header, then reads batches from it to the end or to a torn tail.
    /// Returns what it found and where the valid part ends.
    fn walk(
        file: &mut File,
        path: &Path,
        size: u64,
        visit: &mut impl FnMut(&[Record<'_>]) -> Result<(), StoreError>,
    ) -> Result<(Recovery, u64), StoreError> {
        let err = io(path);
        file.seek(SeekFrom::Start(0)).map_err(&err)?;
        let mut h = [0u8; FILE_HEADER as usize];
        file.read_exact(&mut h).map_err(&err)?;
        if &h[..8] != FILE_MAGIC {
            return Err(StoreError::NotALog {
                path: path.display().to_string(),
            });
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != FORMAT_VERSION {
            return Err(StoreError::Version {
                path: path.display().to_string(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let mut rec = Recovery::default();
        let mut pos = FILE_HEADER;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &*file);
        reader.seek(SeekFrom::Start(pos)).map_err(&err)?;
        loop {
            match Self::scan_batch(&mut reader, size - pos).map_err(&err)? {
                Scan::End => break,
                Scan::Torn(problem) => {
                    // Torn only if no batch with records follows; otherwise it is damage in
                    // the middle. Fillers do not count: the one write in flight at a crash
                    // holds a batch and its trailing filler, and the disk may have kept the
                    // filler's block and not the batch's ([`Direct`]).
                    if Self::next_batch(file, pos + 1, size, true)
                        .map_err(&err)?
                        .is_some()
                    {
                        return Err(StoreError::Corrupt {
                            path: path.display().to_string(),
                            offset: pos,
                            problem: problem.to_string(),
                        });
                    }
                    rec.truncated_at = Some(pos);
                    rec.truncated_bytes = size - pos;
                    break;
                }
                Scan::Batch { count, payload } => {
                    let base = pos + BATCH_HEADER as u64;
                    let records =
                        Self::records_of(&payload, base, count).map_err(|(offset, problem)| {
                            StoreError::Corrupt {
                                path: path.display().to_string(),
                                offset,
                                problem,
                            }
                        })?;
                    rec.records += records.len() as u64;
                    visit(&records)?;
                    pos = base + payload.len() as u64;
                    rec.batches += 1;
                }
            }
        }
        drop(reader);
        Ok((rec, pos))
    }

    fn scan_batch(r: &mut impl Read, remaining: u64) -> std::io::Result<Scan> {
        if remaining == 0 {
            return Ok(Scan::End);
        }
        if remaining < BATCH_HEADER as u64 {
            return Ok(Scan::Torn("batch header cut short"));
        }
        let mut h = [0u8; BATCH_HEADER];
        r.read_exact(&mut h)?;
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        if word(0) != BATCH_MAGIC {
            return Ok(Scan::Torn("bad batch magic"));
        }
        if crc32fast::hash(&h[..20]) != word(20) {
            return Ok(Scan::Torn("batch header checksum mismatch"));
        }
        let (count, len, crc) = (word(4), word(8) as u64, word(12));
        if len > remaining - BATCH_HEADER as u64 {
            return Ok(Scan::Torn("batch cut short"));
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != crc {
            return Ok(Scan::Torn("batch checksum mismatch"));
        }
        Ok(Scan::Batch { count, payload })
    }

    /// Writes the batch and syncs it. Returns the file offset of the batch start; a record
    /// pushed at batch position `p` lies at `start + p`. The batch is cleared.
    ///
    /// If the write or the sync fails, the log's end stays where it was: the next batch is
    /// written over whatever of this one reached the file, so a failed batch never sits
    /// between two acknowledged ones (what is left of it past the next batch's end is a
    /// torn tail, cut off on open).
    pub fn commit(&mut self, batch: &mut Batch) -> Result<u64, StoreError> {
        let before = self.end;
        let (start, pending) = self.write(batch)?;
        if let Err(e) = pending.sync() {
            self.end = before;
            return Err(e);
        }
        Ok(start)
    }

    /// Reserves the batch's place at the end of the log without writing it: nothing in it
    /// is on disk, let alone durable, until the returned [`PendingSync::sync`] succeeds, so
    /// the caller must not acknowledge it before. (Ingest applies the batch to its
    /// in-memory state while the write and the sync run.) Returns where the batch starts:
    /// a record pushed at batch position `p` lies at `start + p`. A failed `sync` leaves
    /// the log's end past bytes that may not be there: the caller must reopen the log
    /// (ingest marks the engine failed and replays), or, as [`Log::commit`] does, set the
    /// end back.
    pub fn write<'a>(
        &'a mut self,
        batch: &'a mut Batch,
    ) -> Result<(u64, PendingSync<'a>), StoreError> {
        let len = batch.buf.len();
        if len > MAX_BATCH {
            return Err(StoreError::BatchTooLarge(len));
        }
        let mut start = self.end;
        let mut direct = None;
        if !batch.is_empty() {
            match self.direct.as_mut() {
                Some(d) if len >= DIRECT_MIN && !d.refused => {
                    let lead = filler_len(start);
                    let at = start;
                    start += lead;
                    let tail = filler_len(start + len as u64);
                    self.end = start + len as u64 + tail;
                    direct = Some((d, at, lead, tail));
                }
                _ => self.end = start + len as u64,
            }
        }
        Ok((
            start,
            PendingSync {
                file: &self.file,
                path: &self.path,
                start,
                batch,
                direct,
            },
        ))
    }

    /// Reads one record's body back, checking its checksum.
    /// Reads the record whose body starts at `offset`, taking its length from its header.
    pub fn read_at(&self, offset: u64) -> Result<Vec<u8>, StoreError> {
        let mut hdr = [0u8; RECORD_HEADER];
        let bad = || StoreError::Corrupt {
            path: self.path.display().to_string(),
            offset,
            problem: "no record starts here".into(),
        };
        if offset < FILE_HEADER + (BATCH_HEADER + RECORD_HEADER) as u64 || offset > self.end {
            return Err(bad());
        }
        self.file
            .read_exact_at(&mut hdr, offset - RECORD_HEADER as u64)
            .map_err(io(&self.path))?;
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        if offset + u64::from(len) > self.end {
            return Err(bad());
        }
        self.read(RecordRef { offset, len })
    }

    pub fn read(&self, r: RecordRef) -> Result<Vec<u8>, StoreError> {
        let err = io(&self.path);
        let mut hdr = [0u8; RECORD_HEADER];
        self.file
            .read_exact_at(&mut hdr, r.offset - RECORD_HEADER as u64)
            .map_err(&err)?;
        let mut body = vec![0u8; r.len as usize];
        self.file.read_exact_at(&mut body, r.offset).map_err(&err)?;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if crc32fast::hash(&body) != crc {
            return Err(StoreError::Corrupt {
                path: self.path.display().to_string(),
                offset: r.offset,
                problem: "record checksum mismatch".into(),
            });
        }
        Ok(body)
    }

    /// Bytes of committed data, header included.
    pub fn len(&self) -> u64 {
        self.end
    }

    pub fn is_empty(&self) -> bool {
        self.end <= FILE_HEADER
    }

    /// Whether large batches go to the disk with `O_DIRECT` (see [`Direct`]).
    pub fn writes_direct(&self) -> bool {
        self.direct.as_ref().is_some_and(|d| !d.refused)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The log opened again for direct writes, if the file system allows it.
fn open_direct(path: &Path) -> Option<Direct> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
        .map(|file| Direct {
            file,
            buf: Aligned::default(),
            refused: false,
        })
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// A damaged stretch of the log: bytes `from..to` hold no usable batch; reading resumed
/// at `to` (where a valid batch header starts, or past a batch whose checksum held but
/// whose records do not add up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub from: u64,
    pub to: u64,
    pub problem: String,
}

/// Where in a batch a record is damaged (its byte offset), and how.
type RecordDamage = (u64, String);

/// What an offline check of the whole log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    pub size: u64,
    /// Valid batches and their records (those after a damaged stretch included).
    pub batches: u64,
    pub records: u64,
    /// Damage with valid data after it, in file order: what a normal open refuses.
    pub damage: Vec<Damage>,
    /// `(offset, bytes)` of a torn last batch, which the next open truncates.
    pub torn_tail: Option<(u64, u64)>,
}

impl Log {
    /// Checks the whole log without changing it, for `credo fsck`. Unlike [`Log::open`]
    /// it does not stop at damage: it reports the damaged stretch, finds the next valid
    /// batch header and goes on, so that every damaged place is named. Every valid batch
    /// is shown to `visit`.
    pub fn check(path: &Path, mut visit: impl FnMut(&[Record<'_>])) -> Result<Check, StoreError> {
        let err = io(path);
        let file = File::open(path).map_err(&err)?;
        let size = file.metadata().map_err(&err)?.len();
        let mut out = Check {
            size,
            ..Check::default()
        };
        if size < FILE_HEADER {
            if size > 0 {
                out.torn_tail = Some((0, size));
            }
            return Ok(out);
        }
        let mut h = [0u8; FILE_HEADER as usize];
        file.read_exact_at(&mut h, 0).map_err(&err)?;
        if &h[..8] != FILE_MAGIC {
            return Err(StoreError::NotALog {
                path: path.display().to_string(),
            });
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != FORMAT_VERSION {
            return Err(StoreError::Version {
                path: path.display().to_string(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let mut pos = FILE_HEADER;
        while pos < size {
            match Self::batch_at(&file, pos, size).map_err(&err)? {
                Ok((count, payload)) => {
                    let base = pos + BATCH_HEADER as u64;
                    match Self::records_of(&payload, base, count) {
                        Ok(records) => {
                            out.records += records.len() as u64;
                            out.batches += 1;
                            visit(&records);
                            pos = base + payload.len() as u64;
                            continue;
                        }
                        Err((at, problem)) => {
                            let problem = format!("{problem} at byte {at}");
                            // The batch's checksum held, so this was written as it is:
                            // damage (as opening says), never a torn write.
                            let end = base + payload.len() as u64;
                            out.damage.push(Damage {
                                from: pos,
                                to: end,
                                problem,
                            });
                            pos = end;
                        }
                    }
                }
                Err(problem) => {
                    match Self::next_batch(&file, pos + 1, size, false).map_err(&err)? {
                        Some(to) => {
                            out.damage.push(Damage {
                                from: pos,
                                to,
                                problem: problem.to_string(),
                            });
                            pos = to;
                        }
                        None => {
                            out.torn_tail = Some((pos, size - pos));
                            break;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The batch at `pos`: its record count and payload, or why it is not valid.
    fn batch_at(
        file: &File,
        pos: u64,
        size: u64,
    ) -> std::io::Result<Result<(u32, Vec<u8>), &'static str>> {
        if size - pos < BATCH_HEADER as u64 {
            return Ok(Err("batch header cut short"));
        }
        let mut h = [0u8; BATCH_HEADER];
        file.read_exact_at(&mut h, pos)?;
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        if word(0) != BATCH_MAGIC {
            return Ok(Err("bad batch magic"));
        }
        if crc32fast::hash(&h[..20]) != word(20) {
            return Ok(Err("batch header checksum mismatch"));
        }
        let (count, len, crc) = (word(4), u64::from(word(8)), word(12));
        if len > size - pos - BATCH_HEADER as u64 {
            return Ok(Err("batch cut short"));
        }
        let mut payload = vec![0u8; len as usize];
        file.read_exact_at(&mut payload, pos + BATCH_HEADER as u64)?;
        if crc32fast::hash(&payload) != crc {
            return Ok(Err("batch checksum mismatch"));
        }
        Ok(Ok((count, payload)))
    }

    /// The records of a batch whose checksum held (their own checksums checked too).
    fn records_of(payload: &[u8], base: u64, count: u32) -> Result<Vec<Record<'_>>, RecordDamage> {
        let mut at = 0usize;
        let mut records = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let here = base + at as u64;
            let hdr = payload
                .get(at..at + RECORD_HEADER)
                .ok_or_else(|| (here, "record header past the batch end".to_string()))?;
            let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
            let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
            let body = payload
                .get(at + RECORD_HEADER..at + RECORD_HEADER + len)
                .ok_or_else(|| (here, "record body past the batch end".to_string()))?;
            if crc32fast::hash(body) != crc {
                return Err((here, "record checksum mismatch".to_string()));
            }
            records.push(Record {
                at: RecordRef {
                    offset: base + (at + RECORD_HEADER) as u64,
                    len: len as u32,
                },
                crc,
                body,
            });
            at += RECORD_HEADER + len;
        }
        Ok(records)
    }

    /// The offset of the first valid batch header at or after `from`, reading the rest of
    /// the file a window at a time.
    ///
    /// With `skip_fillers`, headers of batches without records (fillers, [`Direct`]) are
    /// passed over.
    fn next_batch(
        file: &File,
        from: u64,
        size: u64,
        skip_fillers: bool,
    ) -> std::io::Result<Option<u64>> {
        const WINDOW: usize = 1 << 20;
        let magic = BATCH_MAGIC.to_le_bytes();
        let mut start = from;
        let mut buf = vec![0u8; WINDOW + BATCH_HEADER];
        while start + BATCH_HEADER as u64 <= size {
            let n = ((size - start) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..n], start)?;
            let mut i = 0;
            while i + BATCH_HEADER <= n {
                if buf[i..i + 4] == magic {
                    let h = &buf[i..i + BATCH_HEADER];
                    let stored = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
                    let filler = h[4..8] == [0, 0, 0, 0];
                    if crc32fast::hash(&h[..20]) == stored && !(skip_fillers && filler) {
                        return Ok(Some(start + i as u64));
                    }
                }
                i += 1;
            }
            // The next window starts where a header could still begin.
            start += (n - BATCH_HEADER + 1) as u64;
        }
        Ok(None)
    }
}

//! The zip container of PyTorch checkpoints: a strict reader and a writer, for STORED entries only.
//!
//! `torch.save` writes an uncompressed zip (`checkpoints.md` §2): every entry is STORED, the local
//! headers carry a data descriptor (flag bit 3) with zero sizes, each entry's data is padded to a
//! 64-byte boundary with an `FB` extra field, and the archive ends with a zip64 end record and
//! locator followed by the classic end-of-central-directory record. The reader trusts only the
//! central directory, checks every local header against it, and verifies each entry's CRC-32, so a
//! truncated or damaged file is an error rather than garbage tensors. Compressed, encrypted or
//! multi-disk archives and archives that need zip64 fields are refused by name.
//!
//! The writer produces what the reader (and `torch.load`) accept: STORED entries with sizes and CRC
//! in the local header (no data descriptor), data aligned to 64 bytes the way torch does it, and a
//! plain end record (our checkpoints are far below the 4 GiB zip64 limit).

use std::collections::HashMap;
use std::ops::Range;

use anyhow::{Result, bail, ensure};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const END_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;
/// Alignment of entry data, as in `torch.save` (it lets torch memory-map tensors).
pub const ALIGNMENT: usize = 64;
/// General-purpose flag bits: 0 = encrypted, 3 = sizes in a data descriptor, 11 = UTF-8 names.
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
/// 1980-01-01, the earliest DOS date; torch writes no meaningful time stamps either.
const DOS_DATE: u16 = (1 << 5) | 1;

/// A parsed archive: entry names and where their bytes lie in the file.
#[derive(Debug)]
pub struct ZipArchive<'a> {
    bytes: &'a [u8],
    /// Entry names in central-directory order.
    names: Vec<String>,
    ranges: HashMap<String, Range<usize>>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> ZipArchive<'a> {
    /// Parses an archive held in memory. Errors say what is wrong, not which file: the caller adds
    /// the file name.
    pub fn parse(bytes: &'a [u8]) -> Result<ZipArchive<'a>> {
        let end = find_end_record(bytes)?;
        let disk = u16_at(bytes, end + 4);
        let cd_disk = u16_at(bytes, end + 6);
        let count_here = u16_at(bytes, end + 8);
        let count = u16_at(bytes, end + 10);
        let cd_size = u32_at(bytes, end + 12);
        let cd_offset = u32_at(bytes, end + 16);
        if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
            bail!("the zip archive needs zip64 fields, which checkpoints never do");
        }
        ensure!(
            disk == 0 && cd_disk == 0 && count_here == count,
            "multi-disk zip archives are not supported"
        );
        let (cd_start, cd_end) = (cd_offset as usize, cd_offset as usize + cd_size as usize);
        ensure!(
            cd_end <= end,
            "the central directory (bytes {cd_start}..{cd_end}) overlaps the end record at {end}: the file is truncated or damaged"
        );

        let mut names = Vec::with_capacity(count as usize);
        let mut ranges = HashMap::with_capacity(count as usize);
        let mut at = cd_start;
        for index in 0..count {
            ensure!(
                at + CENTRAL_LEN <= cd_end && u32_at(bytes, at) == CENTRAL_SIG,
                "central directory entry {index} at byte {at} is malformed"
            );
            let flags = u16_at(bytes, at + 8);
            let method = u16_at(bytes, at + 10);
            let crc = u32_at(bytes, at + 16);
            let packed = u32_at(bytes, at + 20);
            let size = u32_at(bytes, at + 24);
            let name_len = u16_at(bytes, at + 28) as usize;
            let extra_len = u16_at(bytes, at + 30) as usize;
            let comment_len = u16_at(bytes, at + 32) as usize;
            let local = u32_at(bytes, at + 42) as usize;
            let name_end = at + CENTRAL_LEN + name_len;
            ensure!(
                name_end + extra_len + comment_len <= cd_end,
                "central directory entry {index} runs past the directory"
            );
            let name = std::str::from_utf8(&bytes[at + CENTRAL_LEN..name_end])
                .map_err(|_| anyhow::anyhow!("entry {index} has a name that is not UTF-8"))?
                .to_string();
            ensure!(flags & FLAG_ENCRYPTED == 0, "entry '{name}' is encrypted");
            ensure!(
                method == 0,
                "entry '{name}' is compressed (method {method}); checkpoints store entries uncompressed"
            );
            if packed == 0xFFFF_FFFF || size == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
                bail!("entry '{name}' needs zip64 fields, which checkpoints never do");
            }
            ensure!(
                packed == size,
                "entry '{name}' is STORED but its stored size {packed} differs from its size {size}"
            );
            let data = local_data(bytes, local, &name, flags, crc, size, cd_start)?;
            let actual = crc32fast::hash(&bytes[data.clone()]);
            ensure!(
                actual == crc,
                "entry '{name}' is damaged: CRC-32 {actual:08x} instead of {crc:08x}"
            );
            if ranges.insert(name.clone(), data).is_some() {
                bail!("entry '{name}' appears twice");
            }
            names.push(name);
            at = name_end + extra_len + comment_len;
        }
        Ok(ZipArchive {
            bytes,
            names,
            ranges,
        })
    }

    /// Entry names in central-directory order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The bytes of an entry, if it exists.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.ranges.get(name).map(|r| &self.bytes[r.clone()])
    }

    /// Byte offset of an entry's data in the file (for the alignment checks of tests).
    pub fn data_offset(&self, name: &str) -> Option<usize> {
        self.ranges.get(name).map(|r| r.start)
    }
}

/// The end-of-central-directory record: the last 22 bytes, or earlier if a comment follows it.
fn find_end_record(bytes: &[u8]) -> Result<usize> {
    let not_zip = || {
        anyhow::anyhow!(
            "no zip end-of-central-directory record: the file is truncated or is not a zip archive"
        )
    };
    if bytes.len() < END_LEN {
        return Err(not_zip());
    }
    let lowest = bytes.len().saturating_sub(END_LEN + u16::MAX as usize);
    let mut at = bytes.len() - END_LEN;
    loop {
        if u32_at(bytes, at) == END_SIG
            && at + END_LEN + u16_at(bytes, at + 20) as usize == bytes.len()
        {
            return Ok(at);
        }
        if at == lowest {
            return Err(not_zip());
        }
        at -= 1;
    }
}

/// Checks the local header of an entry against the central directory and returns its data range.
fn local_data(
    bytes: &[u8],
    at: usize,
    name: &str,
    flags: u16,
    crc: u32,
    size: u32,
    limit: usize,
) -> Result<Range<usize>> {
    ensure!(
        at + LOCAL_LEN <= limit && u32_at(bytes, at) == LOCAL_SIG,
        "entry '{name}': no local header at byte {at}"
    );
    let local_flags = u16_at(bytes, at + 6);
    let method = u16_at(bytes, at + 8);
    let name_len = u16_at(bytes, at + 26) as usize;
    let extra_len = u16_at(bytes, at + 28) as usize;
    ensure!(
        method == 0 && local_flags == flags,
        "entry '{name}': the local header disagrees with the central directory"
    );
    ensure!(
        bytes.get(at + LOCAL_LEN..at + LOCAL_LEN + name_len) == Some(name.as_bytes()),
        "entry '{name}': the local header names a different entry"
    );
    if flags & FLAG_DESCRIPTOR == 0 {
        ensure!(
            u32_at(bytes, at + 14) == crc
                && u32_at(bytes, at + 18) == size
                && u32_at(bytes, at + 22) == size,
            "entry '{name}': the local header's size or CRC disagrees with the central directory"
        );
    }
    let start = at + LOCAL_LEN + name_len + extra_len;
    let end = start + size as usize;
    ensure!(
        end <= limit,
        "entry '{name}': its {size} bytes at {start} run past the central directory at {limit}: the file is truncated or damaged"
    );
    Ok(start..end)
}

/// Builds an archive in memory; entries are STORED with their data aligned to [`ALIGNMENT`].
#[derive(Default)]
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

impl ZipWriter {
    /// An empty archive.
    pub fn new() -> ZipWriter {
        ZipWriter::default()
    }

    /// Appends one entry.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        ensure!(
            self.count < u16::MAX - 1,
            "too many entries for a zip archive without zip64"
        );
        let offset = self.out.len();
        let size = u32::try_from(data.len())
            .ok()
            .filter(|&s| s != u32::MAX)
            .ok_or_else(|| {
                anyhow::anyhow!("entry '{name}' is too large for a zip without zip64")
            })?;
        let name_len = u16::try_from(name.len())?;
        // The `FB` extra field pads the data start to the alignment, as torch's writer does; the
        // 4 bytes of the field's own header count towards the padding.
        let unpadded = offset + LOCAL_LEN + name.len() + 4;
        let pad = (ALIGNMENT - unpadded % ALIGNMENT) % ALIGNMENT;
        let crc = crc32fast::hash(data);

        let header = |buf: &mut Vec<u8>, extra_len: u16| {
            buf.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
            buf.extend_from_slice(&FLAG_UTF8.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // STORED
            buf.extend_from_slice(&0u16.to_le_bytes()); // time
            buf.extend_from_slice(&DOS_DATE.to_le_bytes());
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&extra_len.to_le_bytes());
        };

        self.out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        header(&mut self.out, (4 + pad) as u16);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"FB");
        self.out.extend_from_slice(&(pad as u16).to_le_bytes());
        self.out.resize(self.out.len() + pad, b'Z');
        debug_assert_eq!(self.out.len() % ALIGNMENT, 0);
        self.out.extend_from_slice(data);

        let local = u32::try_from(offset)
            .ok()
            .filter(|&o| o != u32::MAX)
            .ok_or_else(|| anyhow::anyhow!("archive too large for a zip without zip64"))?;
        self.central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        header(&mut self.central, 0);
        self.central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        self.central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&local.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        self.count += 1;
        Ok(())
    }

    /// Appends the central directory and end record and returns the archive's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        let cd_offset = u32::try_from(self.out.len())?;
        let cd_size = u32::try_from(self.central.len())?;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(&END_SIG.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&cd_size.to_le_bytes());
        self.out.extend_from_slice(&cd_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes()); // comment length
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = ZipWriter::new();
        w.add("top/data.pkl", b"pickle bytes").unwrap();
        w.add("top/data/0", &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        w.add("top/version", b"3\n").unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn reads_back_what_it_writes_with_aligned_data() {
        let bytes = sample();
        let zip = ZipArchive::parse(&bytes).unwrap();
        assert_eq!(zip.names(), ["top/data.pkl", "top/data/0", "top/version"]);
        assert_eq!(zip.get("top/data/0").unwrap(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(zip.get("top/version").unwrap(), b"3\n");
        assert!(zip.get("top/missing").is_none());
        for name in zip.names() {
            assert_eq!(zip.data_offset(name).unwrap() % ALIGNMENT, 0, "{name}");
        }
    }

    #[test]
    fn refuses_every_truncation() {
        let bytes = sample();
        for len in 0..bytes.len() {
            let err = ZipArchive::parse(&bytes[..len]).unwrap_err().to_string();
            assert!(err.contains("truncated"), "length {len}: {err}");
        }
    }

    #[test]
    fn refuses_damaged_data() {
        let mut bytes = sample();
        let at = ZipArchive::parse(&bytes)
            .unwrap()
            .data_offset("top/data/0")
            .unwrap();
        bytes[at] ^= 0xFF;
        let err = ZipArchive::parse(&bytes).unwrap_err().to_string();
        assert!(
            err.starts_with("entry 'top/data/0' is damaged: CRC-32"),
            "{err}"
        );
    }

    #[test]
    fn refuses_compressed_entries() {
        let mut bytes = sample();
        let cd = u32_at(&bytes, bytes.len() - END_LEN + 16) as usize;
        bytes[cd + 10] = 8; // deflate
        let err = ZipArchive::parse(&bytes).unwrap_err().to_string();
        assert_eq!(
            err,
            "entry 'top/data.pkl' is compressed (method 8); checkpoints store entries uncompressed"
        );
    }

    #[test]
    fn reads_the_upstream_layout() {
        let Some(path) = crate::testutil::mirror_file("EXTD-20-pruned.pt") else {
            return;
        };
        let bytes = std::fs::read(path).unwrap();
        let zip = ZipArchive::parse(&bytes).unwrap();
        assert_eq!(zip.names().len(), 166);
        assert_eq!(zip.names()[0], "extd-0.2/data.pkl");
        assert_eq!(zip.get("extd-0.2/version").unwrap(), b"3\n");
        assert_eq!(zip.get("extd-0.2/data/0").unwrap().len(), 64 * 27 * 4);
    }
}

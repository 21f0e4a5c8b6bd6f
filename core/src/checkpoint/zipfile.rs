//! The zip container of PyTorch checkpoints, on the `zip` crate: a strict reader and a writer, for
//! STORED entries only.
//!
//! `torch.save` writes an uncompressed zip (`docs/upstream.md` §checkpoint-format): every entry is
//! STORED, the local headers carry a data descriptor (flag bit 3) with zero sizes, each entry's
//! data is padded to a 64-byte boundary with an `FB` extra field, and the archive ends with a zip64
//! end record and locator followed by the classic end-of-central-directory record.
//!
//! The reader lets `zip` find the central directory and check every local header against it (same
//! name and sizes, no two entries of one name, none overlapping, none missing from the directory),
//! then refuses what a checkpoint never holds (compressed or encrypted entries, data running into
//! the central directory) and verifies each entry's CRC-32 over its bytes in place, so a truncated
//! or damaged file is an error rather than garbage tensors. Entries are borrowed from the file's
//! bytes, never copied.
//!
//! The writer produces what the reader and `torch.load` accept: STORED entries with sizes and CRC
//! in the local header (no data descriptor), data aligned to 64 bytes by an alignment extra field
//! (the role of torch's `FB` padding), and fixed 1980-01-01 time stamps so the same tensors give
//! the same bytes.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::ops::Range;

use anyhow::{Context, Result, anyhow, ensure};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime};

/// Alignment of entry data, as in `torch.save` (it lets torch memory-map tensors).
pub const ALIGNMENT: usize = 64;

/// A parsed archive: entry names and where their bytes lie in the file.
#[derive(Debug)]
pub struct ZipArchive<'a> {
    bytes: &'a [u8],
    /// Entry names in central-directory order.
    names: Vec<String>,
    ranges: HashMap<String, Range<usize>>,
}

impl<'a> ZipArchive<'a> {
    /// Parses an archive held in memory. Errors say what is wrong, not which file: the caller adds
    /// the file name.
    pub fn parse(bytes: &'a [u8]) -> Result<ZipArchive<'a>> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            anyhow!("not a complete zip archive (the file is truncated or damaged): {e}")
        })?;
        ensure!(
            !zip.has_duplicate_names(),
            "two entries of the zip archive have the same name"
        );
        let directory = usize::try_from(zip.central_directory_start())?;
        let mut names = Vec::with_capacity(zip.len());
        let mut ranges = HashMap::with_capacity(zip.len());
        for index in 0..zip.len() {
            let entry = zip
                .by_index_raw(index)
                .map_err(|e| anyhow!("entry {index}: {e}: the file is truncated or damaged"))?;
            let name = std::str::from_utf8(entry.name_raw())
                .map_err(|_| anyhow!("entry {index} has a name that is not UTF-8"))?
                .to_string();
            ensure!(!entry.encrypted(), "entry '{name}' is encrypted");
            ensure!(
                entry.compression() == CompressionMethod::Stored,
                "entry '{name}' is compressed ({}); checkpoints store entries uncompressed",
                entry.compression()
            );
            let size = entry.size();
            ensure!(
                entry.compressed_size() == size,
                "entry '{name}' is STORED but its stored size {} differs from its size {size}",
                entry.compressed_size()
            );
            let start = entry
                .data_start()
                .with_context(|| format!("entry '{name}': no data offset"))?;
            let (start, end) = (usize::try_from(start)?, usize::try_from(start + size)?);
            ensure!(
                end <= directory,
                "entry '{name}': its {size} bytes at {start} run past the central directory at \
                 {directory}: the file is truncated or damaged"
            );
            let (crc, actual) = (entry.crc32(), crc32fast::hash(&bytes[start..end]));
            ensure!(
                actual == crc,
                "entry '{name}' is damaged: CRC-32 {actual:08x} instead of {crc:08x}"
            );
            ranges.insert(name.clone(), start..end);
            names.push(name);
        }
        zip.validate_header_consistency()
            .map_err(|e| anyhow!("the zip archive is inconsistent: {e}"))?;
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

/// Builds an archive in memory; entries are STORED with their data aligned to [`ALIGNMENT`].
pub struct ZipWriter {
    zip: zip::ZipWriter<Cursor<Vec<u8>>>,
}

impl Default for ZipWriter {
    fn default() -> ZipWriter {
        ZipWriter {
            zip: zip::ZipWriter::new(Cursor::new(Vec::new())),
        }
    }
}

impl ZipWriter {
    /// An empty archive.
    pub fn new() -> ZipWriter {
        ZipWriter::default()
    }

    /// Appends one entry.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(DateTime::default())
            .with_alignment(ALIGNMENT as u16);
        self.zip
            .start_file(name, options)
            .and_then(|()| Ok(self.zip.write_all(data)?))
            .with_context(|| format!("cannot add entry '{name}' to the archive"))
    }

    /// Appends the central directory and end record and returns the archive's bytes.
    pub fn finish(self) -> Result<Vec<u8>> {
        Ok(self
            .zip
            .finish()
            .context("cannot finish the archive")?
            .into_inner())
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

    /// Where the central directory starts, from the 22-byte end record.
    fn directory(bytes: &[u8]) -> usize {
        let at = bytes.len() - 22 + 16;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
    }

    #[test]
    fn refuses_compressed_entries() {
        let mut bytes = sample();
        let cd = directory(&bytes);
        bytes[cd + 10] = 8; // deflate
        let err = ZipArchive::parse(&bytes).unwrap_err().to_string();
        assert_eq!(
            err,
            "entry 'top/data.pkl' is compressed (Deflated); checkpoints store entries uncompressed"
        );
    }

    #[test]
    fn refuses_encrypted_entries() {
        let mut bytes = sample();
        let cd = directory(&bytes);
        bytes[cd + 8] |= 1; // general-purpose flag bit 0
        let err = ZipArchive::parse(&bytes).unwrap_err().to_string();
        assert_eq!(err, "entry 'top/data.pkl' is encrypted");
    }

    #[test]
    fn refuses_two_entries_of_one_name() {
        let mut w = ZipWriter::new();
        w.add("top/data/0", b"one").unwrap();
        w.add("top/data/1", b"two").unwrap();
        let mut bytes = w.finish().unwrap();
        // Rename the second entry to the first, in its local header and in the directory.
        for at in find_all(&bytes, b"top/data/1") {
            bytes[at + 9] = b'0';
        }
        let err = ZipArchive::parse(&bytes).unwrap_err().to_string();
        assert_eq!(err, "two entries of the zip archive have the same name");
    }

    #[test]
    fn refuses_a_local_header_that_disagrees_with_the_directory() {
        let mut bytes = sample();
        // The first local header names "top/data.pkl"; make it "top/data.pkX".
        let at = find_all(&bytes, b"top/data.pkl")[0];
        bytes[at + 11] = b'X';
        let err = ZipArchive::parse(&bytes).unwrap_err().to_string();
        assert!(
            err.starts_with("the zip archive is inconsistent: "),
            "{err}"
        );
    }

    fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
        (0..=haystack.len() - needle.len())
            .filter(|&i| &haystack[i..i + needle.len()] == needle)
            .collect()
    }

    #[test]
    fn writes_stored_entries_with_sizes_in_the_local_header() {
        let bytes = sample();
        // Local header of the first entry: method 0 (STORED), no data-descriptor flag, the CRC
        // and both sizes filled in.
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(u16_at(8), 0);
        assert_eq!(u16_at(6) & (1 << 3), 0);
        assert_eq!(u32_at(14), crc32fast::hash(b"pickle bytes"));
        assert_eq!((u32_at(18), u32_at(22)), (12, 12));
        // The same entries give the same bytes.
        assert_eq!(bytes, sample());
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

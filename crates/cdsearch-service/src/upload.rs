//! Receiving a submission's masks: each uploaded part is streamed to a file
//! in the platform's upload directory (never held whole in memory) or, on a
//! platform without one, collected once; either way its digest is computed
//! on the way, for the submission's fingerprint.

use crate::store::{MaskData, StagedFile};
use axum::extract::multipart::{Field, MultipartError};
use std::io::Read;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// FNV-1a (64-bit) over bytes given in pieces; equal to
/// [`cdsearch::hash::fnv1a`] of their concatenation.
#[derive(Clone, Copy, Debug)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The digest so far.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// A received mask: its data, size and digest.
#[derive(Debug)]
pub struct Received {
    /// Where its bytes are.
    pub data: MaskData,
    /// Its size in bytes.
    pub len: u64,
    /// The digest of its bytes.
    pub digest: u64,
}

/// Why a part could not be received.
#[derive(Debug)]
pub enum ReceiveError {
    /// The body could not be read (too large, malformed multipart).
    Body(MultipartError),
    /// The upload file could not be written.
    Disk(std::io::Error),
}

/// Receives one multipart part: into a new file under `dir` when there is
/// one, else into memory.
pub async fn receive(mut field: Field<'_>, dir: Option<&Path>) -> Result<Received, ReceiveError> {
    let mut digest = Digest::default();
    let mut len = 0u64;
    let Some(dir) = dir else {
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(ReceiveError::Body)? {
            digest.update(&chunk);
            bytes.extend_from_slice(&chunk);
        }
        return Ok(Received {
            len: bytes.len() as u64,
            data: MaskData::Bytes(bytes),
            digest: digest.value(),
        });
    };
    let staged = StagedFile {
        path: dir.join(format!("{}.part", uuid::Uuid::new_v4().simple())),
    };
    let mut file = tokio::fs::File::create(&staged.path)
        .await
        .map_err(ReceiveError::Disk)?;
    while let Some(chunk) = field.chunk().await.map_err(ReceiveError::Body)? {
        digest.update(&chunk);
        len += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(ReceiveError::Disk)?;
    }
    file.flush().await.map_err(ReceiveError::Disk)?;
    Ok(Received {
        data: MaskData::Staged(staged),
        len,
        digest: digest.value(),
    })
}

/// The size and digest of the file at `path`, read in pieces.
pub fn digest_file(path: &PathBuf) -> std::io::Result<(u64, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 << 10];
    let (mut digest, mut len) = (Digest::default(), 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((len, digest.value()));
        }
        digest.update(&buf[..n]);
        len += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_in_pieces_is_fnv1a_of_the_whole() {
        let mut d = Digest::default();
        d.update(b"hello ");
        d.update(b"world");
        assert_eq!(d.value(), cdsearch::hash::fnv1a(b"hello world"));
    }
}

//! Capped capture of a plugin's stdout/stderr. Unlike wasmtime's
//! `MemoryOutputPipe`, writes past the cap succeed and are discarded (and
//! counted): a Rust guest's `println!` panics on a failed write, and a full
//! log must not turn into a crash.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    dropped: u64,
}

/// A shared, capped buffer for one stream of one call.
#[derive(Clone)]
pub struct CappedOutput {
    cap: usize,
    inner: Arc<Mutex<Buffer>>,
}

impl CappedOutput {
    /// A buffer keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        CappedOutput {
            cap,
            inner: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap.saturating_sub(b.data.len());
        let keep = room.min(bytes.len());
        b.data.extend_from_slice(&bytes[..keep]);
        b.dropped += (bytes.len() - keep) as u64;
    }

    /// The captured bytes and how many were dropped.
    pub fn take(&self) -> (Vec<u8>, u64) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut b.data), std::mem::take(&mut b.dropped))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

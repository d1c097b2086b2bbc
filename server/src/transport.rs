//! What the connection loop reads requests from and writes answers to: the
//! plain socket, or TLS over it (`crate::tls::TlsStream`). The loop is generic
//! over this trait, so the plain path compiles to the same direct socket calls
//! as before TLS existed and pays nothing for it.

use crate::stats::{Counter, WorkerStats};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::io;

/// Request bytes in, answer bytes out, over one accepted connection.
///
/// Every method counts the bytes that crossed the socket (ciphertext on TLS)
/// into `Counter::BytesRead` / `Counter::BytesWritten` itself.
pub(crate) trait Transport {
    /// Appends the next request bytes to `rbuf`, waiting for the peer if none
    /// are ready. `Ok(0)`: the peer ended the stream. An `InvalidData` error is
    /// a TLS failure (the alert has been sent); any other error is I/O.
    async fn read_more(&mut self, rbuf: &mut Vec<u8>, stats: &WorkerStats) -> io::Result<usize>;

    /// Sends all of `wbuf` and empties it, keeping its capacity.
    async fn write_buf(&mut self, wbuf: &mut Vec<u8>, stats: &WorkerStats) -> io::Result<()>;

    /// Sends all of `data` (a static filler, so the plain path needs no copy).
    async fn write_static(&mut self, data: &'static [u8], stats: &WorkerStats) -> io::Result<()>;

    /// Ends the stream politely before the socket is closed (TLS: close_notify);
    /// errors are ignored, the connection is ending anyway.
    async fn close(&mut self, stats: &WorkerStats);

    /// The socket, for lingering and for the fd.
    fn socket(&mut self) -> &mut TcpStream;
}

impl Transport for TcpStream {
    #[inline]
    async fn read_more(&mut self, rbuf: &mut Vec<u8>, stats: &WorkerStats) -> io::Result<usize> {
        // Read into the spare capacity only: a plain Vec would be overwritten
        // from its start (monoio reads at the Vec's base pointer).
        let (len, cap) = (rbuf.len(), rbuf.capacity());
        let (res, slice) = self.read(std::mem::take(rbuf).slice_mut(len..cap)).await;
        *rbuf = slice.into_inner();
        let n = res?;
        if n > 0 {
            stats.add(Counter::BytesRead, n as u64);
        }
        Ok(n)
    }

    #[inline]
    async fn write_buf(&mut self, wbuf: &mut Vec<u8>, stats: &WorkerStats) -> io::Result<()> {
        let buf = std::mem::take(wbuf);
        let (res, mut buf) = self.write_all(buf).await;
        buf.clear();
        *wbuf = buf;
        stats.add(Counter::BytesWritten, res? as u64);
        Ok(())
    }

    #[inline]
    async fn write_static(&mut self, data: &'static [u8], stats: &WorkerStats) -> io::Result<()> {
        let (res, _) = self.write_all(data).await;
        stats.add(Counter::BytesWritten, res? as u64);
        Ok(())
    }

    async fn close(&mut self, _stats: &WorkerStats) {}

    #[inline]
    fn socket(&mut self) -> &mut TcpStream {
        self
    }
}

//! One connection: read, answer every complete request in the buffer (in order,
//! into one write buffer), write once, repeat. Buffers are owned by the loop and
//! reused, so a keep-alive request costs no allocation; they move into monoio's
//! read and write calls and come back (its rent-style API).
//!
//! The loop is generic over its [`Transport`]: the plain socket, or TLS after
//! a handshake ([`serve_tls`]).

use crate::routes::{self, Action, Ctx};
use crate::stats::Counter;
use crate::tls::{HandshakeEnd, TlsStream};
use crate::transport::Transport;
use crate::worker::{deadline, millis, Slot, Worker, NEVER};
use monoio::io::AsyncReadRent;
use monoio::net::TcpStream;
use rustls::server::ServerConfig;
use shared::wire::server_request::{parse, Parsed, Reject};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Starting read buffer size; it grows only while a request within the limits
/// needs it and shrinks back when the connection idles.
const BUF: usize = 16 * 1024;
/// Starting write buffer size: 16 pipelined plaintext answers fit; it grows on
/// demand and shrinks back like the read buffer, so idle connections stay small.
const WBUF: usize = 4 * 1024;
/// Flush the write buffer mid-batch past this, bounding it with many big answers.
const FLUSH_AT: usize = 256 * 1024;
/// `/bytes` bodies are written in pieces of this size from one static buffer.
const CHUNK: usize = 64 * 1024;
static FILL: [u8; CHUNK] = [b'x'; CHUNK];
/// After a refused request: how long and how much to keep reading (and dropping)
/// so the client receives the error response instead of a reset.
const LINGER_MS: u64 = 2_000;
const LINGER_BYTES: usize = 4 << 20;

/// How a connection ended.
enum End {
    /// The client or the server closed it normally.
    Clean,
    /// Closed after a `Connection: close` answer with more requests behind it:
    /// linger like after a refusal, so those unread bytes do not turn the close
    /// into a reset that could destroy the answer.
    CloseWithInput,
    /// A read or write failed.
    Io,
    /// A refused request was answered; the connection lingers, then closes.
    Refused(Reject),
    /// TLS failed (a bad record, an alert); our alert has been sent.
    Tls,
    /// Plain HTTP on the TLS port: answered 400 in clear, then lingers.
    PlainOnTls,
}

/// Serves one accepted plain-HTTP connection to its end.
pub async fn serve(worker: Rc<Worker>, mut stream: TcpStream) {
    let reg = worker.register(stream.as_raw_fd());
    let end = drive(&worker, &reg.slot, &mut stream).await;
    finish(&worker, &reg.slot, &mut stream, end).await;
    // Deregister before the socket closes: the tick must never see a reused fd.
    drop(reg);
    drop(stream);
}

/// Serves one accepted `--tls` connection: the handshake, bounded by
/// --header-timeout, then the same loop as plain HTTP over TLS.
pub async fn serve_tls(worker: Rc<Worker>, stream: TcpStream, config: Arc<ServerConfig>) {
    let reg = worker.register(stream.as_raw_fd());
    let stats = worker.my_stats();
    let mut tls = match TlsStream::new(stream, config) {
        Ok(t) => t,
        Err(_) => {
            stats.add(Counter::Tls, 1);
            return;
        }
    };
    // No request is in flight during the handshake: a stop closes it at once.
    let slot = &reg.slot;
    slot.idle.set(true);
    slot.deadline.set(deadline(
        worker.now_ms.get(),
        millis(worker.cfg.header_timeout),
    ));
    let end = match tls.handshake(stats).await {
        Ok(()) => {
            slot.idle.set(false);
            drive(&worker, slot, &mut tls).await
        }
        // The tick shut it at the deadline: a read of 0 or an error alike.
        Err(_) if slot.timed_out.get() => End::Io,
        Err(HandshakeEnd::Closed) => End::Clean,
        Err(HandshakeEnd::Io) if worker.stopping.get() => End::Clean,
        Err(HandshakeEnd::Io) => End::Io,
        Err(HandshakeEnd::Tls) => End::Tls,
        Err(HandshakeEnd::PlainHttp) => {
            tls.answer_plain_http(stats).await;
            End::PlainOnTls
        }
    };
    finish(&worker, slot, &mut tls, end).await;
    drop(reg);
    drop(tls);
}

/// Counts how the connection ended, ends the stream politely where it still
/// can, and lingers where unread input could turn the close into a reset.
async fn finish<T: Transport>(w: &Worker, slot: &Slot, t: &mut T, end: End) {
    let stats = w.my_stats();
    match end {
        End::Clean => t.close(stats).await,
        End::CloseWithInput => {
            t.close(stats).await;
            linger(w, slot, t.socket()).await
        }
        End::Io if slot.timed_out.get() => stats.add(Counter::Timeouts, 1),
        End::Io => stats.add(Counter::Io, 1),
        End::Tls => stats.add(Counter::Tls, 1),
        End::PlainOnTls => {
            stats.add(Counter::Tls, 1);
            linger(w, slot, t.socket()).await
        }
        End::Refused(why) => {
            stats.add(
                match why {
                    Reject::BadRequest | Reject::NotImplemented => Counter::BadRequest,
                    Reject::HeaderTooLarge => Counter::HeaderTooLarge,
                    Reject::BodyTooLarge => Counter::BodyTooLarge,
                },
                1,
            );
            t.close(stats).await;
            linger(w, slot, t.socket()).await;
        }
    }
}

async fn drive<T: Transport>(w: &Worker, slot: &Slot, stream: &mut T) -> End {
    let limits = w.cfg.limits;
    let header_ms = millis(w.cfg.header_timeout);
    let idle_ms = millis(w.cfg.idle_timeout);
    let stats = w.my_stats();
    let mut rbuf: Vec<u8> = Vec::with_capacity(BUF);
    let mut wbuf: Vec<u8> = Vec::with_capacity(WBUF);
    let mut scratch: Vec<u8> = Vec::new();
    // When the head now being received started arriving (worker clock).
    let mut head_started: Option<u64> = None;
    let mut continue_sent = false;
    loop {
        let mut pos = 0;
        let mut close = false;
        let mut refused = None;
        let mut body_pending = false;
        let mut answered = 0u64;
        let date = w.date();
        while pos < rbuf.len() {
            match parse(&rbuf[pos..], &limits) {
                Parsed::Complete(req) => {
                    head_started = None;
                    continue_sent = false;
                    let closing = w.stopping.get();
                    let ctx = Ctx {
                        date: &date,
                        stats: &w.stats,
                    };
                    let ans =
                        routes::answer(&ctx, &req, &rbuf[pos..], &mut wbuf, &mut scratch, closing);
                    answered += u64::from(ans.counted);
                    close = closing || !req.keep_alive;
                    pos += req.len;
                    match ans.action {
                        Action::Done => {}
                        Action::Delay {
                            ms,
                            head_only,
                            conn,
                        } => {
                            if flush(w, slot, stream, &mut wbuf).await.is_err() {
                                return End::Io;
                            }
                            slot.deadline.set(NEVER);
                            monoio::time::sleep(Duration::from_millis(ms)).await;
                            routes::delayed(&mut wbuf, &w.date(), head_only, conn);
                        }
                        Action::Stream { n } => {
                            if flush(w, slot, stream, &mut wbuf).await.is_err()
                                || stream_body(w, slot, stream, n).await.is_err()
                            {
                                return End::Io;
                            }
                        }
                    }
                    if wbuf.len() >= FLUSH_AT && flush(w, slot, stream, &mut wbuf).await.is_err() {
                        return End::Io;
                    }
                    if close {
                        break;
                    }
                }
                Parsed::Partial {
                    head_done,
                    expect_continue,
                } => {
                    if head_done {
                        body_pending = true;
                        if expect_continue && !continue_sent {
                            wbuf.extend_from_slice(routes::CONTINUE);
                            continue_sent = true;
                        }
                    }
                    break;
                }
                Parsed::Reject(why) => {
                    routes::reject(&mut wbuf, why, &date);
                    refused = Some(why);
                    break;
                }
            }
        }
        if answered > 0 {
            stats.add(Counter::Requests, answered);
        }
        if !wbuf.is_empty() && flush(w, slot, stream, &mut wbuf).await.is_err() {
            return End::Io;
        }
        if let Some(why) = refused {
            return End::Refused(why);
        }
        if close {
            return if pos < rbuf.len() {
                End::CloseWithInput
            } else {
                End::Clean
            };
        }
        // Keep the unparsed tail at the front of the buffer.
        if pos == rbuf.len() {
            rbuf.clear();
        } else if pos > 0 {
            rbuf.drain(..pos);
        }

        // Idle: --idle-timeout from now; inside a body: --idle-timeout from the
        // last progress; inside a head: --header-timeout from its first byte.
        let now = w.now_ms.get();
        if rbuf.is_empty() {
            if w.stopping.get() {
                return End::Clean;
            }
            slot.idle.set(true);
            slot.deadline.set(deadline(now, idle_ms));
            // A big body made the buffers grow: give the memory back while idle.
            if rbuf.capacity() > 4 * BUF {
                rbuf = Vec::with_capacity(BUF);
            }
            if wbuf.capacity() > 4 * BUF {
                wbuf = Vec::with_capacity(WBUF);
            }
        } else if body_pending {
            slot.deadline.set(deadline(now, idle_ms));
        } else {
            let started = *head_started.get_or_insert(now);
            slot.deadline.set(deadline(started, header_ms));
        }
        // Always leave room to read: a full buffer would read 0 bytes, which
        // looks like end of stream. Growth is bounded because the parser refuses
        // any request over the limits before the buffer gets there.
        if rbuf.capacity() - rbuf.len() < BUF / 4 {
            rbuf.reserve(BUF.max(rbuf.len()));
        }
        let res = stream.read_more(&mut rbuf, stats).await;
        slot.idle.set(false);
        match res {
            Ok(0) => {
                return if slot.timed_out.get() {
                    End::Io
                } else {
                    End::Clean
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return End::Tls,
            Err(_) => return End::Io,
        }
    }
}

/// Writes the whole write buffer and empties it (keeping its capacity).
async fn flush<T: Transport>(
    w: &Worker,
    slot: &Slot,
    stream: &mut T,
    wbuf: &mut Vec<u8>,
) -> Result<(), ()> {
    // A client that stops reading is closed after the idle timeout.
    slot.deadline
        .set(deadline(w.now_ms.get(), millis(w.cfg.idle_timeout)));
    stream.write_buf(wbuf, w.my_stats()).await.map_err(|_| ())
}

/// Streams `n` filler bytes in bounded pieces: memory stays constant for any n.
async fn stream_body<T: Transport>(
    w: &Worker,
    slot: &Slot,
    stream: &mut T,
    n: u64,
) -> Result<(), ()> {
    let idle_ms = millis(w.cfg.idle_timeout);
    let mut left = n;
    while left > 0 {
        let k = left.min(CHUNK as u64) as usize;
        slot.deadline.set(deadline(w.now_ms.get(), idle_ms));
        stream
            .write_static(&FILL[..k], w.my_stats())
            .await
            .map_err(|_| ())?;
        left -= k as u64;
    }
    Ok(())
}

/// After a final answer while the client may still be sending: stop sending,
/// then read and drop what arrives for a short, bounded while. Closing with
/// unread data would make the kernel send a reset, which can destroy the
/// answer before the client reads it.
async fn linger(w: &Worker, slot: &Slot, stream: &mut TcpStream) {
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_WR);
    }
    slot.deadline.set(deadline(w.now_ms.get(), LINGER_MS));
    let mut buf: Vec<u8> = Vec::with_capacity(BUF);
    let mut total = 0;
    while total < LINGER_BYTES {
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                buf.clear();
            }
        }
    }
}

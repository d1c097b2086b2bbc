//! A std-only HTTP/1.1 server that holds every response during the last `stall` of
//! every `period` (counted from its start), and answers at once otherwise. For
//! requests arriving at a constant rate well below capacity the true latency
//! distribution is known: a share `stall / period` of requests waits uniformly
//! between 0 and `stall`; the rest see the unstalled latency.
//!
//! One thread accepts, one thread serves each connection; dropping the server
//! stops them (by a flag, a self-connect and socket shutdowns) and joins them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

pub struct Stalling {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: Option<JoinHandle<()>>,
}

impl Stalling {
    pub fn start(period: Duration, stall: Duration) -> Self {
        assert!(stall < period);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let t0 = Instant::now();
        let accept = {
            let (stop, streams, threads) = (stop.clone(), streams.clone(), threads.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let _ = conn.set_nodelay(true);
                    if let Ok(c) = conn.try_clone() {
                        streams.lock().unwrap().push(c);
                    }
                    let stop = stop.clone();
                    let h = thread::spawn(move || serve(conn, t0, period, stall, &stop));
                    threads.lock().unwrap().push(h);
                }
            })
        };
        Self {
            addr,
            stop,
            streams,
            threads,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The analytic latency (beyond the unstalled one) at quantile `q` (0..1).
    pub fn truth(q: f64, period: Duration, stall: Duration) -> Duration {
        let share = stall.as_secs_f64() / period.as_secs_f64();
        if q <= 1.0 - share {
            Duration::ZERO
        } else {
            stall.mul_f64((q - (1.0 - share)) / share)
        }
    }
}

fn serve(mut conn: TcpStream, t0: Instant, period: Duration, stall: Duration, stop: &AtomicBool) {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // Answer every complete request head (the generator sends GETs, no bodies).
        let mut answers = 0;
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            answers += 1;
        }
        if answers == 0 {
            continue;
        }
        // Inside the stall window: hold the answers until it ends.
        let phase = t0.elapsed().as_nanos() % period.as_nanos();
        let open = (period - stall).as_nanos();
        if phase >= open {
            let left = period.as_nanos() - phase;
            thread::sleep(Duration::from_nanos(left as u64));
        }
        let out = RESPONSE.repeat(answers);
        if conn.write_all(&out).is_err() {
            return;
        }
    }
}

impl Drop for Stalling {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for h in self.threads.lock().unwrap().drain(..) {
            let _ = h.join();
        }
    }
}

//! What one generator process measured, decoded: the fold of its workers (a run)
//! or of its node file (a merge), and the node file lines it is written as.

use super::node::{Footer, NodeRecord, PaceRecord, RecordError, Second, ThreadRecord, TlsRecord};
use super::sum::{decode, SecondSum};
use crate::result::{GeneratorCpu, PaceTotals, TlsTotals};
use shared::stats::codec::encode_base64;
use shared::stats::{new_histogram, Counters, Histogram};

/// One process's measurements, every histogram decoded and every second summed once.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Seconds from the start (a node: T0) to the stop: the measured interval.
    pub duration_s: f64,
    pub counters: Counters,
    /// Every completion's latency, µs (the sum of the seconds' histograms).
    pub histogram: Histogram,
    pub first_invalid: Option<String>,
    /// Each worker thread: its requests and 100 ms Req/Sec samples.
    pub threads: Vec<ThreadRecord>,
    pub generator_cpu: GeneratorCpu,
    /// Under -R: the schedule audit.
    pub pace: Option<PaceTotals>,
    /// `https://`: handshakes and TLS failures.
    pub tls: Option<TlsTotals>,
    pub interrupted: bool,
    pub seconds: Vec<SecondSum>,
    /// False: read from a node file that ends before its footer, so only its
    /// seconds (completions and latencies, no error classes) are known.
    pub complete: bool,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            duration_s: 0.0,
            counters: Counters::default(),
            histogram: new_histogram(),
            first_invalid: None,
            threads: Vec::new(),
            generator_cpu: GeneratorCpu::default(),
            pace: None,
            tls: None,
            interrupted: false,
            seconds: Vec::new(),
            complete: true,
        }
    }
}

impl Tally {
    /// Second `index`, made to exist (seconds are numbered from the start).
    pub fn second_mut(&mut self, index: usize) -> &mut SecondSum {
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, SecondSum::new);
        }
        &mut self.seconds[index]
    }

    /// A node file decoded: each histogram once. A file without its footer
    /// counts the completions of its seconds as sent and completed.
    pub fn of_node(node: &NodeRecord) -> Result<Self, RecordError> {
        let who = format!("node {}", node.header.node_index);
        let mut t = Tally {
            duration_s: node.duration_s(),
            ..Tally::default()
        };
        for s in &node.seconds {
            t.second_mut(s.second)
                .add_second(s, &format!("{who} second {}", s.second))?;
        }
        match &node.footer {
            Some(f) => {
                t.counters = f.counters;
                t.histogram = decode(&f.histogram, &who)?;
                t.first_invalid.clone_from(&f.first_invalid);
                t.threads.clone_from(&f.threads);
                t.generator_cpu = f.generator_cpu;
                t.interrupted = f.interrupted;
                if let Some(p) = &f.pace {
                    t.pace = Some(PaceTotals {
                        lag: decode(&p.lag, &who)?,
                        uncorrected: decode(&p.uncorrected, &who)?,
                        late_busy: p.late_busy,
                        late_generator: p.late_generator,
                        behind: p.behind,
                    });
                }
                if let Some(r) = &f.tls {
                    t.tls = Some(TlsTotals {
                        handshake: decode(&r.handshake, &who)?,
                        full: r.full,
                        resumed: r.resumed,
                        failures: r.failures.clone(),
                        negotiated: r.negotiated.clone(),
                    });
                }
            }
            None => {
                t.complete = false;
                for s in &t.seconds {
                    t.counters.completed += s.completed;
                    t.histogram.add(&s.histogram).expect("one histogram layout");
                }
                t.counters.sent = t.counters.completed;
            }
        }
        Ok(t)
    }

    /// Adds another process's tally (a merge): counters, histograms and the
    /// audit add exactly, seconds by their number from T0; the interval is the
    /// longest.
    pub fn add(&mut self, o: &Tally) {
        self.duration_s = self.duration_s.max(o.duration_s);
        self.counters += o.counters;
        self.histogram
            .add(&o.histogram)
            .expect("one histogram layout");
        if self.first_invalid.is_none() {
            self.first_invalid.clone_from(&o.first_invalid);
        }
        self.threads.extend(o.threads.iter().cloned());
        self.generator_cpu = GeneratorCpu::new(
            self.generator_cpu.user_s + o.generator_cpu.user_s,
            self.generator_cpu.sys_s + o.generator_cpu.sys_s,
            self.counters.sent,
        );
        if let Some(p) = &o.pace {
            self.pace.get_or_insert_with(PaceTotals::new).add(p);
        }
        if let Some(x) = &o.tls {
            self.tls.get_or_insert_with(TlsTotals::new).add(x);
        }
        self.interrupted |= o.interrupted;
        for (i, s) in o.seconds.iter().enumerate() {
            self.second_mut(i).add_sum(s);
        }
        self.complete &= o.complete;
    }

    /// The node file's record of second `index`.
    pub fn second(&self, index: usize) -> Second {
        self.seconds[index].to_second(index)
    }

    /// The node file's footer.
    pub fn footer(&self) -> Footer {
        Footer {
            duration_s: self.duration_s,
            counters: self.counters,
            histogram: encode_base64(&self.histogram),
            first_invalid: self.first_invalid.clone(),
            threads: self.threads.clone(),
            generator_cpu: self.generator_cpu,
            pace: self.pace.as_ref().map(|p| PaceRecord {
                lag: encode_base64(&p.lag),
                uncorrected: encode_base64(&p.uncorrected),
                late_busy: p.late_busy,
                late_generator: p.late_generator,
                behind: p.behind,
            }),
            tls: self.tls.as_ref().map(|x| TlsRecord {
                handshake: encode_base64(&x.handshake),
                full: x.full,
                resumed: x.resumed,
                failures: x.failures.clone(),
                negotiated: x.negotiated.clone(),
            }),
            interrupted: self.interrupted,
            seconds: self.seconds.len(),
        }
    }
}

//! Thread-per-core bootstrap shared by the generator and the server: N threads,
//! each pinned to its own CPU, each running its own monoio runtime on the chosen
//! engine. Workers share nothing on the hot path.

pub mod engine;
pub mod limits;
pub mod placement;
pub mod stop;

pub use engine::{choose as choose_engine, EngineChoice, EngineError, IoEngine, RingFlags};
pub use limits::raise_open_files;
pub use placement::{allowed_cpus, format_cpu_list, parse_cpu_list, resolve_cpus, CpuListError};
pub use stop::Stop;

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use std::future::Future;
use std::thread::JoinHandle;
use thiserror::Error;

/// What a worker knows about where it runs.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// 0-based worker index.
    pub index: usize,
    /// The CPU it is pinned to, or `None` if pinning failed.
    pub cpu: Option<usize>,
    /// The engine its runtime uses.
    pub engine: EngineChoice,
}

/// A worker thread could not be started or its runtime could not be built.
#[derive(Debug, Error)]
pub enum SpawnError {
    /// The OS refused to create the thread.
    #[error("could not start worker thread {index}: {source}")]
    Thread {
        index: usize,
        source: std::io::Error,
    },
    /// The monoio runtime could not be built on the worker's thread.
    #[error("could not build the {engine} runtime on worker {index}: {source}")]
    Runtime {
        index: usize,
        engine: IoEngine,
        source: std::io::Error,
    },
    /// The worker thread panicked.
    #[error("worker {index} panicked")]
    Panicked { index: usize },
}

/// Starts one pinned thread per CPU in `cpus`. Each builds its own runtime and runs
/// `make(ctx)` to completion; the future is created on that thread, so it need not
/// be `Send`. Join with [`join_all`].
pub fn spawn_workers<T, F, Fut>(
    name: &str,
    cpus: &[usize],
    engine: &EngineChoice,
    make: F,
) -> Result<Vec<JoinHandle<Result<T, SpawnError>>>, SpawnError>
where
    T: Send + 'static,
    F: Fn(WorkerContext) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = T>,
{
    let mut handles = Vec::with_capacity(cpus.len());
    for (index, &cpu) in cpus.iter().enumerate() {
        let make = make.clone();
        let engine = engine.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || {
                let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                let ctx = WorkerContext {
                    index,
                    cpu: pinned.then_some(cpu),
                    engine: engine.clone(),
                };
                block_on(&engine, index, move || make(ctx))
            })
            .map_err(|source| SpawnError::Thread { index, source })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Joins workers in index order; a panic becomes [`SpawnError::Panicked`].
pub fn join_all<T>(handles: Vec<JoinHandle<Result<T, SpawnError>>>) -> Vec<Result<T, SpawnError>> {
    handles
        .into_iter()
        .enumerate()
        .map(|(index, h)| h.join().unwrap_or(Err(SpawnError::Panicked { index })))
        .collect()
}

/// Builds the engine's runtime on the current thread (with timers) and runs the
/// future made by `make` on it. A generator on its direct io_uring loop drives its
/// own ring; its thread gets monoio's cheap epoll runtime only to run the future.
pub fn block_on<T, F, Fut>(engine: &EngineChoice, index: usize, make: F) -> Result<T, SpawnError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let err = |source| SpawnError::Runtime {
        index,
        engine: engine.engine,
        source,
    };
    match engine.ring_flags {
        Some(flags) if !engine.direct => {
            let mut rt = RuntimeBuilder::<TimeDriver<IoUringDriver>>::new()
                .with_entries(engine.ring_entries.max(256))
                .uring_builder(flags.builder())
                .build()
                .map_err(err)?;
            Ok(rt.block_on(make()))
        }
        _ => {
            let mut rt = RuntimeBuilder::<TimeDriver<LegacyDriver>>::new()
                .build()
                .map_err(err)?;
            Ok(rt.block_on(make()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(engine: IoEngine) {
        let choice = choose_engine(engine).unwrap();
        let cpus = allowed_cpus();
        let handles = spawn_workers("t", &cpus, &choice, |ctx: WorkerContext| async move {
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
            (ctx.index, monoio::utils::is_legacy())
        })
        .unwrap();
        let out: Vec<_> = join_all(handles).into_iter().map(Result::unwrap).collect();
        assert_eq!(out.len(), cpus.len());
        for (i, (index, legacy)) in out.into_iter().enumerate() {
            assert_eq!(i, index);
            assert_eq!(legacy, choice.engine == IoEngine::Epoll);
        }
    }

    #[test]
    fn workers_run_on_epoll() {
        run_on(IoEngine::Epoll);
    }

    #[test]
    fn workers_run_on_auto() {
        run_on(IoEngine::Auto);
    }
}

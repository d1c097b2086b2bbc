//! The one integration-test binary: it runs the real `ceiling` binary against real
//! sockets on 127.0.0.1 with ephemeral ports, bounded in time, waiting on readiness.

mod support;

mod architecture;
mod campaign_compare;
mod campaign_matrix;
mod campaign_ramp;
mod campaign_tune;
mod distributed;
mod help;
mod inputs;
mod loadgen_count;
mod loadgen_misbehave;
mod loadgen_rate;
mod loadgen_scale;
mod machine;
mod progress;
mod record;
mod scripts;
mod server;
mod tls;
mod tls_client;
mod tls_inputs;

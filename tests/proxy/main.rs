//! The proxy in front of the real engine, over real sockets on 127.0.0.1: wire format
//! read strictly from raw HTTP, errors, cancellation, shutdown, metrics, the official
//! Python clients, and a load run with random faults.

mod emulated;
mod errors;
mod lifecycle;
mod load;
mod metrics;
mod python;
mod support;
mod wire;

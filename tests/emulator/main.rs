//! The emulator over real sockets: each endpoint's shape, every fault as a client sees it,
//! profile timing on a paused clock, seed determinism, cancellation and the admin API.

mod admin;
mod common;
mod endpoints;
mod faults;
mod openai;
mod timing;

//! signalbox: a terminal dashboard and router for local language models.
//!
//! The [`engine`] routes each chat request to one of several models, protecting each with
//! a circuit breaker, a bulkhead and time limits, and falling back when one fails. The
//! [`tui`] dashboard, the [`proxy`] HTTP API and the measuring tools all drive the same
//! engine and watch it through the [`events`] bus.

pub mod app;
pub mod ask;
pub mod backend;
pub mod bench;
pub mod config;
pub mod demo;
pub mod emulator;
pub mod engine;
pub mod events;
pub mod proxy;
pub mod simulate;
pub mod tui;

//! A scriptable in-memory backend for tests, the simulator and benchmarks.

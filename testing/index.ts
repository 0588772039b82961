// The testing entry: fakes and helpers for unit tests, cross-layer tests and
// benchmarks. Production code never imports it; it imports no simulator.
export { type Cleanup, cleanupsAfterEach } from './cleanups.ts';
export { expectVendgateError } from './errors.ts';
export { FakeMachine } from './fake-machine.ts';
export { createMemoryTransportPair, MemoryTransport } from './memory-transport.ts';
export { freePort } from './ports.ts';
export { tempDir } from './tmp.ts';
export { waitUntil } from './wait.ts';

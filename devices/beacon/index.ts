/** BLE beacon codec: advertisement parsers and encoders, identity tracking, the decode command. */
export * from './decode-cli.ts';
export * from './encode.ts';
export * from './frames.ts';
export { parseHex } from './hex.ts';
export * from './parse.ts';
export * from './tracker.ts';
